"""Where a submission's per-result answer files are, by identity, questionnaire, variant and
protocol (:func:`~value_inertia.publishing.tables.identity.result_file`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from value_inertia.analysis.variants.report_model import VariantReport
from value_inertia.publishing.tables.identity import result_file


def answer_files(kind: str, row: Mapping[str, Any], files: Iterable[str]) -> list[str]:
    """The dataset's ``responses`` or ``parsed`` files of one result's model, questionnaire
    and protocol (:func:`~value_inertia.publishing.tables.identity.result_file`), every
    variant: a variant analysed with the original result (the shuffled options of the
    position-bias check) is published under the original result's protocol."""
    folder = f"data/{kind}/{row.get('model_key')}/"
    head = f"{folder}{row.get('questionnaire')}__"
    tail = f"__{row.get('protocol_hash')}.parquet"
    return sorted(f for f in files if f.startswith(head) and f.endswith(tail))


def variants_file(row: Mapping[str, Any]) -> str:
    """Where the dataset keeps a result's variant report (each variant against original)."""
    return result_file(
        "variants",
        str(row.get("model_key")),
        str(row.get("questionnaire")),
        "original",
        str(row.get("protocol_hash")),
        "json",
    )


def variant_answer_files(
    row: Mapping[str, Any], report: VariantReport | None, files: Iterable[str]
) -> list[str]:
    """The parsed answer files of every variant a variant report compares: each variant's
    file under its own protocol when it is a result of its own, else under the original's."""
    present = set(files)
    found = []
    variants = report.variants if report else {}
    wanted = [("original", row.get("protocol_hash"))]
    wanted += [(v, m.protocol_hash) for v, m in variants.items()]
    for variant, protocol in wanted:
        for proto in dict.fromkeys([protocol, row.get("protocol_hash")]):
            rel = result_file(
                "parsed",
                str(row.get("model_key")),
                str(row.get("questionnaire")),
                str(variant),
                str(proto),
                "parquet",
            )
            if rel in present:
                found.append(rel)
                break
    return found
