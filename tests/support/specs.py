"""Building config.json variants in unit tests: parse one, change one value by its dotted path."""

import copy


def spec_of(config):
    from boxen.common import jsonio
    from boxen.oci.runtime import parse_config

    return parse_config(jsonio.dumps(config))


def changed(config, path, value):
    """A deep copy of config with the value at a dotted path (list indexes as numbers) replaced."""
    config = copy.deepcopy(config)
    keys = path.split(".")
    node = config
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    last = keys[-1]
    if value is ...:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return config
