// `provium repl` boots a VM and evaluates Lua lines against it (piped input: no terminal);
// `provium console --print-command` shows the QEMU command it would run.
#include <gtest/gtest.h>

#include "qemu_support.hpp"

using namespace provium::e2e;

TEST(QemuRepl, EvaluatesExpressionsAndStatementsAgainstTheVm) {
  Project p;
  p.write("provium.toml", linux_profile_toml());
  auto env =
      environment_with({{"PROVIUM_BUILD_DIR", PROVIUM_GUEST_CACHE}, {"HOME", p.dir().string()}});
  auto r = run_program(
      {provium_bin(), "repl", "linux", "--name", "box"}, p.dir(), env,
      "box:run('echo hi-from-guest').stdout\nx = 40 + 2\nx\nvm:name()\nerror('boom')\n3 * 111\n",
      std::chrono::seconds(240));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("hi-from-guest"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find("42\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("box\n"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("boom"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("333\n"), std::string::npos) << "an error does not end the session\n" << r.out;
}

TEST(QemuRepl, BadProfileAndName) {
  Project p;
  p.write("provium.toml", linux_profile_toml());
  auto r = p.run({"repl", "nosuch"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("profile `nosuch` not found"), std::string::npos) << r.err;
  r = run_qemu(p, {"repl", "linux", "--name", "not an identifier"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("must be a Lua identifier"), std::string::npos) << r.err;
}

TEST(QemuConsole, PrintCommand) {
  Project p;
  p.write("provium.toml", linux_profile_toml());
  auto r = run_qemu(p, {"console", "linux", "--print-command", "--mem", "256M", "--cmdline",
                        "console=ttyS0 quiet", "--", "-no-hpet"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("qemu-system-x86_64 -M q35,accel="), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("-m 256M"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("-serial mon:stdio"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("-append 'console=ttyS0 quiet'"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("rdinit="), std::string::npos) << "no agent unless --agent\n" << r.out;
  EXPECT_NE(r.out.find(" -no-hpet"), std::string::npos) << r.out;
  r = run_qemu(p, {"console", "linux", "--print-command", "--agent"});
  EXPECT_NE(r.out.find("rdinit=/sbin/provium-agent"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find("org.provium.agent.0"), std::string::npos) << r.out;
}
