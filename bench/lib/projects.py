"""Scratch provium projects for the benchmarks: the repository's provium.toml (so the `linux`
profile measured is the one users get) with the test root moved to the project itself, and
the files a benchmark needs. Standard library only."""
import os
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# A fixture of one booted 256 MiB `linux` guest, and a test file that restores it and runs one
# command: the fixture path users take once a suite has grown.
FIXTURE = """local vm = provium:vm("base", "linux", { memory = "256M" })
vm:boot()
return vm:snapshot()
"""
FIXTURE_USER = """local vm = vm_fixture("fixtures/base")
test("one command", function(t) vm:run("true"):assert_ok() end)
"""


def make_project(files, prefix="provium-bench-"):
    """A temporary project holding `files` ({relative path: text}); the caller removes it."""
    d = tempfile.mkdtemp(prefix=prefix)
    os.makedirs(os.path.join(d, "fixtures"))
    with open(os.path.join(REPO, "provium.toml")) as f:
        toml = f.read().replace('roots = ["examples"]', 'roots = ["."]')
    with open(os.path.join(d, "provium.toml"), "w") as f:
        f.write(toml.replace("sh guest/build-linux.sh", "sh %s/guest/build-linux.sh" % REPO))
    for name, body in files.items():
        with open(os.path.join(d, name), "w") as f:
            f.write(body)
    return d
