"""Duplicate suspicion's two routes against the slow, obviously correct count: for each line, look at every
context line one by one. The index, built once and asked in chunks, must give what one question gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.duplicate_index import DuplicateIndex, duplicate_counts


def _lines(frequency: str, submitted: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "patient_id": ["P1", "P1"],
            "procedure_code": ["97110", "97140"],
            "service_from": pd.to_datetime(["2024-03-01", "2024-03-01"]),
            "submitted_at": pd.to_datetime([submitted, submitted]),
            "frequency_code": [frequency, frequency],
        }
    )


ROUTES = {"one_question": duplicate_counts, "index": lambda lines, context: DuplicateIndex(context).counts(lines)}


@pytest.mark.parametrize("route", ROUTES)
def test_no_original_in_the_context_means_no_duplicate_and_no_error(route: str) -> None:
    replacement = _lines("7", "2024-03-10")
    count, since = ROUTES[route](replacement, replacement)
    np.testing.assert_array_equal(count, [0, 0])
    assert np.isnan(since).all()


@pytest.mark.parametrize("route", ROUTES)
def test_an_earlier_original_with_the_same_service_is_counted(route: str) -> None:
    earlier, later = _lines("1", "2024-03-05"), _lines("1", "2024-03-10")
    count, since = ROUTES[route](later, pd.concat([earlier, later], ignore_index=True))
    np.testing.assert_array_equal(count, [1, 1])
    np.testing.assert_array_equal(since, [5.0, 5.0])


def _random_lines(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Few patients, codes and days, so keys collide often; some missing values and NaT days."""
    patient = rng.choice(np.array(["P1", "P2", "P3", "P4", None], dtype=object), n)
    code = rng.choice(np.array(["97110", "97140", "99213", None], dtype=object), n)
    service = np.datetime64("2024-03-01") + rng.integers(0, 4, n).astype("timedelta64[D]")
    service[rng.random(n) < 0.05] = np.datetime64("NaT")
    submitted = service + rng.integers(0, 20, n).astype("timedelta64[D]")
    frequency = rng.choice(np.array(["1", "1", "1", "7", "8"], dtype=object), n)
    return _line_keys(patient, code, service, submitted, frequency)


def _line_keys(*columns: np.ndarray) -> dict[str, np.ndarray]:
    names = ("patient_id", "procedure_code", "service_from", "submitted_at", "frequency_code")
    return dict(zip(names, columns, strict=True))


def _slow_counts(lines: dict[str, np.ndarray], context: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    def same(a: object, b: object) -> bool:
        return (pd.isna(a) and pd.isna(b)) or (not pd.isna(a) and not pd.isna(b) and a == b)

    def day(value: np.datetime64) -> int:
        return 0 if np.isnat(value) else max(int(value.astype("datetime64[D]").astype(np.int64)), 0)

    n = len(lines["procedure_code"])
    count, since = np.zeros(n, dtype=np.int64), np.full(n, np.nan)
    for i in range(n):
        q_day = day(lines["submitted_at"][i])
        earlier = [
            day(context["submitted_at"][j])
            for j in range(len(context["procedure_code"]))
            if context["frequency_code"][j] == "1"
            and all(same(lines[k][i], context[k][j]) for k in ("patient_id", "procedure_code", "service_from"))
            and day(context["submitted_at"][j]) < q_day
        ]
        count[i] = len(earlier)
        if earlier:
            since[i] = (-(10**6) if np.isnat(lines["submitted_at"][i]) else q_day) - max(earlier)
    return count, since


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_route_counts_what_a_line_by_line_scan_counts(seed: int, route: str) -> None:
    rng = np.random.default_rng(seed)
    context = _random_lines(rng, 300)
    lines = _random_lines(rng, 120)
    lines["patient_id"][:5] = "P9"  # a patient the context never had
    count, since = ROUTES[route](lines, context)
    slow_count, slow_since = _slow_counts(lines, context)
    np.testing.assert_array_equal(count, slow_count)
    np.testing.assert_array_equal(since, slow_since)
    assert (count > 0).sum() > 20 and (count == 0).sum() > 5  # both answers are exercised


def test_one_index_asked_in_chunks_answers_as_one_question() -> None:
    rng = np.random.default_rng(3)
    context = _random_lines(rng, 500)
    lines = _random_lines(rng, 200)
    index = DuplicateIndex(context)
    whole = index.counts(lines)
    parts = [index.counts({k: v[a : a + 37] for k, v in lines.items()}) for a in range(0, 200, 37)]
    np.testing.assert_array_equal(whole[0], np.concatenate([p[0] for p in parts]))
    np.testing.assert_array_equal(whole[1], np.concatenate([p[1] for p in parts]))


def _sparse_lines(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Many patients and codes, few of their pairs: a key space much wider than the keys the lines hold."""
    patient = np.array([f"P{i}" for i in rng.integers(0, 60, n)], dtype=object)
    patient[rng.random(n) < 0.05] = None
    code = np.array([f"C{i}" for i in rng.integers(0, 40, n)], dtype=object)
    service = np.datetime64("2024-03-01") + rng.integers(0, 4, n).astype("timedelta64[D]")
    submitted = service + rng.integers(0, 10, n).astype("timedelta64[D]")
    frequency = rng.choice(np.array(["1", "1", "1", "7"], dtype=object), n)
    return _line_keys(patient, code, service, submitted, frequency)


def test_a_key_space_wider_than_its_room_is_renumbered_and_counts_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(4)
    context = _sparse_lines(rng, 400)
    again = rng.choice(400, 150)  # the context's own keys asked again, some days earlier or later
    lines = {k: v[again].copy() for k, v in context.items()}
    lines["submitted_at"] += rng.integers(-3, 6, 150).astype("timedelta64[D]")
    lines["patient_id"][:3] = "P99"  # never in the context
    wide = DuplicateIndex(context)
    assert all(step is None for step in wide.steps)  # 61 x 41 x 5 keys and 4 day bits fit 62 bits
    # 17 bits: 13 for the key after the days' 4; 61 x 41 x 5 > 2^13, so the (patient, code) pairs are renumbered
    monkeypatch.setattr("features.duplicate_index._KEY_BITS", 17)
    narrow = DuplicateIndex(context)
    assert narrow.day_bits == 4 and [step is None for step in narrow.steps] == [True, True, False]
    count, since = narrow.counts(lines)
    slow_count, slow_since = _slow_counts(lines, context)
    np.testing.assert_array_equal(count, slow_count)
    np.testing.assert_array_equal(since, slow_since)
    np.testing.assert_array_equal(count, wide.counts(lines)[0])
    assert (count > 0).sum() > 10 and (count == 0).sum() > 10
    monkeypatch.setattr("features.duplicate_index._KEY_BITS", 8)
    with pytest.raises(ValueError, match="more distinct keys than fit"):
        DuplicateIndex(context)


def test_text_spread_from_claim_columns_is_keyed_as_plain_text() -> None:
    """The context's claim columns gathered to their lines (`spread`) are renumbered from the claims' codes, whose
    distinct values include patients with no original line: the counts must not change."""
    from features.text_codes import remember, spread

    rng = np.random.default_rng(5)
    context, lines = _random_lines(rng, 400), _random_lines(rng, 150)
    claims = np.array(["P1", "P2", "P3", "P4", "P7", None] * 20, dtype=object)  # P7: no line of it is original
    line_claim = np.array([{"P1": 0, "P2": 1, "P3": 2, "P4": 3}.get(p, 5) for p in context["patient_id"]])
    keyed = dict(context, patient_id=spread(remember(claims), line_claim))
    np.testing.assert_array_equal(keyed["patient_id"], context["patient_id"])
    plain, spreaded = DuplicateIndex(context).counts(lines), DuplicateIndex(keyed).counts(lines)
    np.testing.assert_array_equal(plain[0], spreaded[0])
    np.testing.assert_array_equal(plain[1], spreaded[1])
