-- Booting a real Linux guest.
--
-- `provium:vm(name, profile, sizing)` declares a VM; `vm:boot()` starts QEMU and returns once
-- the guest agent has answered (readiness is the handshake, never a sleep). The `linux`
-- profile is the project's default guest (see provium.toml): the Debian cloud kernel, busybox
-- and the agent. Without /dev/kvm provium emulates the CPU (TCG), which is slower but works
-- anywhere. Every VM is shut down when its file ends.

local vm = provium:vm("web", "linux", { memory = "256M" })
vm:boot()

test("commands run inside the guest", function(t)
  local r = vm:run("uname -s")
  r:assert_ok() -- on failure the error shows the status, stdout and stderr
  t:assert_eq(r.stdout, "Linux\n")

  -- argv form: no shell, no quoting worries
  t:assert_eq(vm:run({ "/bin/echo", "two words" }).stdout, "two words\n")

  -- exit codes and stderr come back separately
  local bad = vm:run("echo oops >&2; exit 3")
  t:assert_eq(bad.exit_code, 3)
  t:assert_eq(bad.stderr, "oops\n")
end)

test("files go in and out", function(t)
  vm:write_file("/tmp/config.ini", "[server]\nport = 8080\n")
  t:assert_contains(vm:run("grep port /tmp/config.ini").stdout, "8080")
  t:assert_eq(vm:stat("/tmp/config.ini").size, 21)
end)

test("a background process and its output stream", function(t)
  local p = vm:run_async("for i in 1 2 3; do echo tick $i; sleep 0.1; done")
  local out = p:stdout_stream()
  out:expect("tick 3") -- waits (10 s by default) for the literal text
  t:assert(p:wait():ok())
end)

test("the guest is a real kernel", function(t)
  t:assert_eq(vm:read_file("/proc/sys/kernel/ostype"), "Linux\n")
  t:assert(vm:run("cat /proc/cpuinfo | grep -c processor").stdout == "1\n")
end)
