defmodule Linx.PoolTest do
  # Resizing the pool is global: not async.
  use Linx.Case, async: false

  setup do
    on_exit(fn -> Linx.Pool.resize(Application.get_env(:linx, :pool_size, 2)) end)
  end

  test "keeps idle agents ready and refills after a checkout" do
    :ok = Linx.Pool.resize(2)
    assert eventually(fn -> Linx.Pool.idle() == 2 end)
    port = Linx.Pool.checkout()
    assert is_port(port)
    # The caller owns it now: its exit status will come here.
    assert Port.info(port, :connected) == {:connected, self()}
    assert eventually(fn -> Linx.Pool.idle() == 2 end)
    Port.close(port)
  end

  test "a pooled agent serves a workload like a fresh one" do
    :ok = Linx.Pool.resize(2)
    assert eventually(fn -> Linx.Pool.idle() == 2 end)
    {out, 0} = Linx.Process.run(["/bin/sh", "-c", "echo $$"], namespaces: [:pid])
    assert out == "1\n"
  end

  test "resize(0) turns the pool off; spawning still works" do
    :ok = Linx.Pool.resize(0)
    assert Linx.Pool.idle() == 0
    assert Linx.Pool.checkout() == nil
    assert {"cold\n", 0} = Linx.Process.run(["/bin/echo", "cold"])
  end

  test "an idle agent killed from outside is replaced" do
    :ok = Linx.Pool.resize(1)
    assert eventually(fn -> Linx.Pool.idle() == 1 end)
    port = Linx.Pool.checkout()
    {:os_pid, os_pid} = Port.info(port, :os_pid)
    Port.close(port)
    assert_os_pid_exits(os_pid)
    assert eventually(fn -> Linx.Pool.idle() == 1 end)
  end
end
