"""CloudFormation values of a synthesized template as the strings they become at deploy time, for the tests that
evaluate its policies and outputs: Ref, Fn::GetAtt, Fn::Join and Fn::FindInMap resolved from the names (and
mappings) the test gives; anything else refused."""

from __future__ import annotations

from typing import Any

PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::URLSuffix": "amazonaws.com",
}


def resolve(value: Any, names: dict[str, str], mappings: dict[str, Any] | None = None) -> Any:
    """`value` with its intrinsics resolved: `names` maps a Ref (logical ID or pseudo parameter) or `Logical.Attr`
    to its value; pseudo parameters default to PSEUDO; `mappings` are the template's Mappings. A name not given is
    an error, never a guess."""
    if isinstance(value, list):
        return [resolve(item, names, mappings) for item in value]
    if not isinstance(value, dict):
        return value
    return _intrinsic(value, {**PSEUDO, **names}, names, mappings)


def _intrinsic(value: dict[str, Any], known: dict[str, str], names: dict[str, str], mappings: Any) -> Any:
    if "Ref" in value:
        return _named(known, value["Ref"])
    if "Fn::GetAtt" in value:
        return _named(known, ".".join(value["Fn::GetAtt"]))
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(str(resolve(part, names, mappings)) for part in parts)
    if "Fn::FindInMap" in value and mappings is not None:
        name, top, second = (resolve(part, names, mappings) for part in value["Fn::FindInMap"])
        return mappings[name][top][second]
    intrinsic = [key for key in value if key.startswith("Fn::")]
    if intrinsic:
        raise ValueError(f"{intrinsic[0]} is not resolved here: {value}")
    return {key: resolve(item, names, mappings) for key, item in value.items()}


def _named(known: dict[str, str], name: str) -> str:
    if name not in known:
        raise KeyError(f"no value given for {name}")
    return known[name]
