"""Fixtures of the MQTT tests: a real Mosquitto, real records, ``infotrafic stream`` processes."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from mqtt_fixture import Mosquitto, mosquitto_binary
from stream_helpers import StreamProcess

pytest.importorskip("paho.mqtt.client")

if mosquitto_binary() is None:  # the CI prerequisites install it (docker/ci_prereqs.sh)
    pytest.fail(
        "mosquitto not found: apt-get install mosquitto (the MQTT tests run a real broker)",
        pytrace=False,
    )


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path / "broker").start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def real_records(shared_data: Path) -> list[dict[str, Any]]:
    """Real records in the v2.1 shape: the API file (100 arcs, one hour) + 500 export hours.

    The export rows are rendered as the portal's v2.1 records (the export carries the same
    fields under French labels): ``Identifiant arc`` -> ``iu_ac`` and so on, times as written.
    """
    with gzip.open(shared_data / "api" / "v2.1_records_results_2026-06-21.json.gz", "rt") as fh:
        api = json.load(fh)
    export = pd.read_csv(
        shared_data / "exports" / "arc4264_2022-11_2023-12.csv.gz",
        sep=";",
        encoding="utf-8-sig",
        dtype=str,
        keep_default_na=False,
    ).head(500)
    rows = []
    for _, row in export.iterrows():
        rows.append(
            {
                "iu_ac": row["Identifiant arc"],
                "libelle": row["Libelle"],
                "t_1h": row["Date et heure de comptage"],
                "q": float(row["Débit horaire"]) if row["Débit horaire"] else None,
                "k": float(row["Taux d'occupation"]) if row["Taux d'occupation"] else None,
                "etat_trafic": row["Etat trafic"] or None,
                "etat_barre": row["Etat arc"] or None,
            }
        )
    return [*api, *rows]


@pytest.fixture
def stream_process() -> Iterator[Any]:
    """Build ``infotrafic stream`` processes; any still running at the end is killed."""
    started: list[StreamProcess] = []

    def make(address: str, out: Path, *extra: str, **kwargs: Any) -> StreamProcess:
        proc = StreamProcess(address, out, *extra, **kwargs)
        started.append(proc)
        return proc

    yield make
    for proc in started:
        proc.ensure_stopped()
