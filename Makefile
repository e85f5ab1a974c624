all:
	@true
clean:
	@true
