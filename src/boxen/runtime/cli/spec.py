"""spec: write a default config.json (the same as runc's) into the bundle directory."""


from boxen.common import posixos as os
from boxen.common import jsonio
from boxen.common.errors import AlreadyExists
from boxen.common.flags import Flag
from boxen.runtime.cli import check_args

USAGE = "spec [command options]"
FLAGS = (
    Flag("bundle,b", "str", "", help="path to the root of the bundle directory"),
    Flag("rootless", help="generate a configuration for a rootless container"),
    Flag("help,h", help="show help"),
)


def run(g, opts, args) -> int:
    check_args("spec", args, exactly=0)
    from boxen.runtime.spec import default_spec

    path = os.path.join(opts["bundle"] or ".", "config.json")
    if os.path.exists(path):
        raise AlreadyExists("File config.json exists. Remove it first", field=path)
    text = jsonio.dumps(default_spec(rootless=opts["rootless"]), indent="\t")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)
    return 0
