-- The smallest useful QEMU test: boot the `linux` guest and run one command. bench/qemu/run.sh
-- times whole `provium` processes running this file (process start to exit), for context.
local vm = provium:vm("one", "linux", { memory = "256M" })
vm:boot()

test("one command", function(t)
  vm:run("true"):assert_ok()
end)
