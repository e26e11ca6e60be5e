"""A YAML document's shape checked from its event stream, before anything is built: deep nesting
exhausts the composer's recursion, and a few kilobytes of aliases can expand into gigabytes
("billion laughs"). Configs, policies and dataset cards each raise their own typed error."""

from __future__ import annotations


def yaml_shape_problem(text: str, max_depth: int, max_aliases: int) -> tuple[int, str] | None:
    """(1-based line, what is wrong) for a document nested deeper than ``max_depth`` or with more
    than ``max_aliases`` aliases; None when its shape is fine (parse errors are the parser's)."""
    import yaml

    depth = aliases = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > max_depth:
                return event.start_mark.line + 1, f"nested more than {max_depth} levels deep"
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > max_aliases:
                return event.start_mark.line + 1, f"more than {max_aliases} YAML aliases (*name)"
    return None
