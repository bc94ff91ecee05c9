"""Training data for both stages: no leakage of valid/test items, no held-out phrasing, the right mix."""

import json
import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from sidrec_lib.attributes import SteerPicker, item_facts, steerable_attributes, steerable_names
from sidrec_lib.builtin import write_store
from sidrec_lib.compound import KINDS as COMPOUND_KINDS
from sidrec_lib.compound import is_heldout
from sidrec_lib.constraints import HolderIndex
from sidrec_lib.corpus import stage1_corpus, steer_listings, value_listings
from sidrec_lib.phrasings import (
    EXPLAINED_HISTORY,
    describe_item,
    explain_answer,
    explain_question,
    format_history,
    load_phrasings,
)
from sidrec_lib.prepare import PreparedData, prepare
from sidrec_lib.presets import BuiltinConfig, CorpusConfig, PrepareConfig, TaskConfig
from sidrec_lib.sources import read_amazon_layout
from sidrec_lib.steering import build_compound_requests
from sidrec_lib.tasks import TASKS, task_mix
from sidrec_lib.tokens import SidCatalog

CONFIG = TaskConfig(
    prompt_history=6, next_item_per_user=3, requests_per_user=2, requests_without_history=150,
    explanations=120, compound_per_user=2,
)  # fmt: skip
RECOMMENDING = ("next_item", "title_to_sid", "request", "steer", "compound")


def fake_catalog(item_ids, seed=0) -> SidCatalog:
    """Unique random codes, 3 levels of 16."""
    rows = np.random.default_rng(seed).choice(16**3, size=len(item_ids), replace=False)
    return SidCatalog(list(item_ids), np.stack([rows // 256, rows // 16 % 16, rows % 16], axis=1))


@pytest.fixture(scope="module")
def phrasings() -> dict:
    return load_phrasings()


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[PreparedData, SidCatalog]:
    folder = write_store(BuiltinConfig(n_items=200, n_users=300, seed=1), tmp_path_factory.mktemp("store"))
    prepared = prepare(read_amazon_layout(folder), PrepareConfig(kcore=2, max_user_interactions=20))
    return prepared, fake_catalog(prepared.items.item_id)


@pytest.fixture(scope="module")
def mix(store, phrasings) -> pd.DataFrame:
    prepared, catalog = store
    return task_mix(prepared, catalog, phrasings, CONFIG)


@pytest.fixture(scope="module")
def brand_store(store) -> tuple[PreparedData, SidCatalog]:
    """The same store with only brand attributes, as a real Amazon catalog has."""
    prepared, catalog = store
    brand_only = prepared.attributes[prepared.attributes.attribute == "brand"].reset_index(drop=True)
    return replace(prepared, attributes=brand_only), catalog


def turns(row) -> tuple[str, str]:
    """The last user turn and the answer to it (a refining request has a turn and an answer before)."""
    *earlier, user, assistant = row.messages
    assert [m["role"] for m in row.messages] == ["user", "assistant"] * (len(earlier) // 2 + 1)
    assert len(earlier) == (2 if row.task == "compound" and row.attribute == "refine" else 0)
    return user["content"], assistant["content"]


def train_sequences(prepared) -> dict[str, list[str]]:
    return {
        user: list(items)[:-2] for user, items in zip(prepared.sequences.user_id, prepared.sequences.item_ids)
    }


def heldout_strings(tree) -> list[str]:
    found = []
    if isinstance(tree, dict):
        for k, v in tree.items():
            found += list(v) if k == "heldout" else heldout_strings(v)
    return found


def template_regex(template: str, **fills: str) -> str:
    """A regex matching ``template`` with each {placeholder} as given in ``fills`` (default: any text)."""
    parts = re.split(r"(\{\w+\})", template)
    return "".join(fills.get(p[1:-1], ".+") if re.fullmatch(r"\{\w+\}", p) else re.escape(p) for p in parts)


def alternatives(templates: list[str], **fills: str) -> str:
    return "(?:" + "|".join(template_regex(t, **fills) for t in templates) + ")"


# ---------------------------------------------------------------------------------------------------
# The task mix on a generated store


def test_every_task_appears_with_catalog_targets(store, mix):
    prepared, catalog = store
    assert set(mix.task) == set(TASKS)
    assert list(mix.columns) == ["task", "user_id", "attribute", "value", "target_item", "messages"]
    catalog_rows = mix[mix.task.isin(["sid_to_title", "title_to_sid"])]
    assert all(v is None for v in catalog_rows[["user_id", "attribute", "value"]].to_numpy().ravel())
    assert mix.target_item.isin(set(catalog.item_ids)).all()
    for row in mix.itertuples():
        _, answer = turns(row)
        if row.task in RECOMMENDING:
            assert answer == catalog.sid(row.target_item)  # exactly one SID
        else:
            assert catalog.items_in(answer) == []


def test_no_valid_or_test_item_reaches_a_users_examples(store, mix):
    prepared, catalog = store
    last_two = {
        user: set(items[-2:]) for user, items in zip(prepared.sequences.user_id, prepared.sequences.item_ids)
    }
    train = train_sequences(prepared)
    with_user = mix[mix.user_id.notna()]
    assert set(with_user.task) == {"next_item", "request", "steer", "explain", "compound"}
    for row in with_user.itertuples():
        said = " ".join(message["content"] for message in row.messages)
        named = set(catalog.items_in(said)) | {row.target_item}
        assert not named & last_two[row.user_id], row
        # A request for any value may be answered by an item the user never bought; all else is theirs.
        answers = " ".join(m["content"] for m in row.messages if m["role"] == "assistant")
        answered = {row.target_item, *catalog.items_in(answers)}
        shown = named - answered if row.task in ("steer", "compound") else named
        assert shown <= set(train[row.user_id])


def test_histories_are_the_items_just_before_the_target(store, mix, phrasings):
    prepared, catalog = store
    train = train_sequences(prepared)
    facts = item_facts(prepared, steerable_attributes(prepared, phrasings))
    titles = dict(zip(prepared.items.item_id, prepared.items.title))
    for row in mix[mix.task.isin(["next_item", "request", "explain"]) & mix.user_id.notna()].itertuples():
        seq = train[row.user_id]
        t = seq.index(row.target_item)
        assert t >= 1
        before = seq[max(0, t - CONFIG.prompt_history) : t]
        if row.task == "explain":  # titles and values of the item and of the history, in the prompt
            asked = {
                explain_question(q, row.target_item, seq[:t], facts, titles)
                for q in phrasings["explain"]["train"]
            }
            cited = [item for item in set(seq[:t]) if f'"{titles[item]}" (' in turns(row)[0]]
            assert set(seq[:t][-EXPLAINED_HISTORY:]) <= set(cited) and len(cited) <= EXPLAINED_HISTORY
            assert turns(row)[0] in asked
            assert f'"{titles[before[-1]]}" (' in turns(row)[0] and "platform: " in turns(row)[0]
        else:
            assert catalog.items_in(turns(row)[0]) == before


def test_prompts_use_only_train_phrasings(store, mix, phrasings):
    heldout = heldout_strings(phrasings)
    fragments = {f.strip() for text in heldout for f in re.split(r"\{\w+\}", text) if len(f.strip()) >= 8}
    assert len(fragments) > 20
    requests = phrasings["requests"]
    compound = phrasings["compound"]
    for row in mix.itertuples():
        prompt, _ = turns(row)
        asked = [m["content"] for m in row.messages if m["role"] == "user"]
        assert not [f for text in asked for f in fragments if f in text], asked
        if row.task == "compound":
            first = (
                alternatives([t for spec in requests.values() for t in spec["train"]])
                if row.attribute == "refine"
                else alternatives(_train_lists(compound[row.attribute]))
            )
            assert re.fullmatch(alternatives(phrasings["with_history"]["train"], request=first), asked[0])
            if row.attribute == "refine":
                assert re.fullmatch(alternatives(compound["refine"]["train"]), asked[1])
            continue
        if row.task in ("request", "steer"):
            request = alternatives(requests[row.attribute]["train"])
            pattern = (
                alternatives(phrasings["with_history"]["train"], request=request) if row.user_id else request
            )
        else:
            pattern = alternatives(phrasings[row.task]["train"])
        assert re.fullmatch(pattern, prompt, flags=re.DOTALL), (row.task, prompt)


def test_counts_follow_the_config(store, mix):
    prepared, _ = store
    train = train_sequences(prepared)
    counts = mix.task.value_counts()
    assert counts["sid_to_title"] == CONFIG.id_tasks_per_item * len(prepared.items)
    assert counts["title_to_sid"] == (~prepared.items.title.duplicated(keep=False)).sum()
    assert counts["explain"] == CONFIG.explanations
    per_user = mix[mix.task == "next_item"].groupby("user_id").size()
    assert per_user.max() <= CONFIG.next_item_per_user
    for user, seq in train.items():  # the last train position is always a target
        if len(seq) >= 2:
            assert ((mix.task == "next_item") & (mix.user_id == user) & (mix.target_item == seq[-1])).any()
    requests = mix[mix.task == "request"]
    assert requests.user_id.isna().sum() == CONFIG.requests_without_history
    assert requests.groupby("user_id").size().max() <= CONFIG.requests_per_user
    assert mix[mix.task == "steer"].groupby("user_id").size().max() <= CONFIG.steer_requests_per_user
    compound = mix[mix.task == "compound"].groupby("user_id").size()
    assert (
        compound.max() <= CONFIG.compound_per_user
        and compound.sum() >= 0.5 * len(train) * CONFIG.compound_per_user
    )


def test_request_targets_hold_the_requested_value(store, mix, phrasings):
    prepared, _ = store
    steerable = steerable_attributes(prepared, phrasings)
    held = set(zip(steerable.item_id, steerable.attribute, steerable.value))
    asking = mix.task.isin(["request", "steer"])
    assert set(mix[asking].attribute) == set(steerable_names(prepared)) == set(steerable.attribute)
    for row in mix[asking].itertuples():
        assert (row.target_item, row.attribute, row.value) in held
    assert mix[~asking & (mix.task != "compound")][["attribute", "value"]].isna().all().all()


@pytest.mark.parametrize("pool", [1, 5])
def test_steer_requests_answer_a_holder_close_to_the_history(store, phrasings, pool):
    """Requests for any value: the target holds it, is not in the history, and is one of the ``pool``
    holders outside the history that share the most attribute values with the last three history items."""
    prepared, catalog = store
    only_steer = replace(CONFIG, requests_per_user=0, steer_requests_per_user=2, steer_pool=pool)
    requests = task_mix(prepared, catalog, phrasings, only_steer)
    requests = requests[requests.task == "steer"]
    assert len(requests) > 0.8 * 2 * len(prepared.sequences)
    steerable = steerable_attributes(prepared, phrasings)
    holders = steerable.groupby(["attribute", "value"]).item_id.apply(set)
    facts = item_facts(prepared, steerable)

    def pairs(item):
        return {(a, v) for a, values in facts.get(item, {}).items() for v in values}

    train = train_sequences(prepared)
    below_best = 0
    for row in requests.itertuples():
        shown = [found.item_id for found in catalog.parse(row.messages[0]["content"])]
        seq = train[row.user_id]
        t = next(t for t in range(len(shown), len(seq)) if seq[t - len(shown) : t] == shown)
        history = seq[:t]  # everything bought before, shown or not
        assert row.target_item in holders[(row.attribute, row.value)] and row.target_item not in history
        recent = history[-3:]

        def overlap(item, recent=recent):
            return sum(len(pairs(item) & pairs(h)) for h in recent)

        held_out = set(dict(zip(prepared.sequences.user_id, prepared.sequences.item_ids))[row.user_id][-2:])
        others = holders[(row.attribute, row.value)] - set(history) - held_out
        assert row.target_item not in held_out
        ranked = sorted((overlap(item) for item in others), reverse=True)
        assert overlap(row.target_item) >= ranked[min(pool, len(ranked)) - 1]
        below_best += overlap(row.target_item) < ranked[0]
        assert row.messages[1]["content"] == catalog.sid(row.target_item)
    assert (below_best > 0) == (pool > 1)  # a pool also answers good fits that are not the best


def test_requests_without_history_follow_train_popularity(store, mix):
    prepared, _ = store
    inter = prepared.interactions
    train_items = set(inter[inter.split == "train"].item_id)
    targets = mix[(mix.task == "request") & mix.user_id.isna()].target_item
    assert targets.isin(train_items).all()  # popularity 0 → never drawn


def test_mix_is_deterministic_by_seed(store, mix, phrasings):
    prepared, catalog = store
    again = task_mix(prepared, catalog, phrasings, CONFIG)
    other = task_mix(prepared, catalog, phrasings, replace(CONFIG, seed=1))

    def dump(frame):
        return json.dumps(frame.to_dict("records"), default=str)

    assert dump(again) == dump(mix)
    assert dump(other) != dump(mix)
    # Every count is set by the config, but for compound requests, which are skipped where none fits.
    assert (other.task != "compound").sum() == (mix.task != "compound").sum()


def test_catalog_answers_and_explanations(store, mix):
    prepared, catalog = store
    titles = dict(zip(prepared.items.item_id, prepared.items.title))
    for row in mix[mix.task == "sid_to_title"].itertuples():
        prompt, answer = turns(row)
        assert catalog.items_in(prompt) == [row.target_item]
        assert answer.startswith(titles[row.target_item]) and "Platform: " in answer
    for row in mix[mix.task == "title_to_sid"].itertuples():
        assert titles[row.target_item] in turns(row)[0]
    explained = [turns(row)[1] for row in mix[mix.task == "explain"].itertuples()]
    assert sum(a.startswith("People who bought") for a in explained) < len(explained) / 2
    assert all(a.endswith(".") and a[0].isupper() for a in explained)


def test_brand_catalog_steers_by_brand_and_keywords(brand_store, phrasings):
    prepared, catalog = brand_store
    assert steerable_names(prepared) == ("brand", "keyword")
    mix = task_mix(prepared, catalog, phrasings, CONFIG)
    assert set(mix.task) == set(TASKS)
    assert set(mix[mix.task.isin(["request", "steer"])].attribute) == {"brand", "keyword"}
    brands = dict(zip(prepared.items.item_id, prepared.items.store))
    for row in mix[mix.task == "sid_to_title"].head(20).itertuples():
        assert turns(row)[1].endswith(f"Brand: {brands[row.target_item]}.")


def test_items_without_a_sid_are_reported(store, phrasings):
    prepared, catalog = store
    partial = SidCatalog(catalog.item_ids[1:], catalog.codes[1:])
    with pytest.raises(ValueError, match="no semantic ID"):
        task_mix(prepared, partial, phrasings, CONFIG)


# ---------------------------------------------------------------------------------------------------
# Pieces


def hand_made(titles: list[str], attributes: list[tuple[str, str, str]], brands=None) -> PreparedData:
    items = pd.DataFrame(
        {"item_id": [f"I{i:03d}" for i in range(len(titles))], "title": titles, "store": brands or ""}
    )
    empty = pd.DataFrame()
    table = pd.DataFrame(attributes, columns=["item_id", "attribute", "value"])
    return PreparedData(items, empty, empty, table, empty)


def test_steerable_attributes_rename_and_filter(phrasings):
    values = {
        "platform": ["PC"] * 4 + ["Wii"] * 2,
        "genre": ["Role-Playing"] * 3 + ["Action"] * 3,
        "franchise": ["Belvane"] * 3 + ["Lumia"] * 2 + [""],
        "price_tier": ["Budget"] * 3 + ["Standard"] * 3,
        "multiplayer": ["Yes"] * 3 + ["No"] * 3,
    }
    rows = [(f"I{i:03d}", a, v) for a, vs in values.items() for i, v in enumerate(vs) if v]
    prepared = hand_made([f"Game {i}" for i in range(6)], rows)
    table = steerable_attributes(prepared, phrasings, min_items=3)
    texts = table.drop_duplicates(["attribute", "value"]).set_index(["attribute", "value"]).text.to_dict()
    assert texts == {
        ("platform", "PC"): "PC",  # Wii: two items only
        ("genre", "Action"): "action",  # lowercase
        ("genre", "Role-Playing"): "role-playing",  # renamed
        ("franchise", "Belvane"): "Belvane",
        ("price_tier", "Budget"): "cheap",  # only_values: Standard is left out
        ("multiplayer", "Yes"): "multiplayer",
    }
    assert list(table.columns) == ["item_id", "attribute", "value", "text"]
    assert len(table) == 4 + 6 + 3 + 3 + 3


def test_keywords_from_titles(phrasings):
    titles = [f"Part {i}" for i in range(100)]
    for i in range(3):
        titles[i] = f"Acme Bracket with Hooks {i}"  # bracket: a keyword; with: a stop word; acme: the brand
    titles[3], titles[4] = "Hammer", "Claw hammer"  # two items only
    for i in range(10, 20):
        titles[i] = f"Steel rod {i}"  # in 10% of items: too common
    titles[20:23] = ["Gear2 pro"] * 3  # gear2: not alphabetic; pro: too short
    brands = ["Acme"] * 3 + [""] * 97
    prepared = hand_made(
        titles, [("I000", "brand", "Acme"), ("I001", "brand", "Acme"), ("I002", "brand", "Acme")], brands
    )
    table = steerable_attributes(prepared, phrasings, min_items=3)
    assert set(zip(table.attribute, table.value, table.text)) == {
        ("brand", "Acme", "Acme"),
        ("keyword", "bracket", "bracket"),
        ("keyword", "hooks", "hooks"),
    }
    assert set(table[table.value == "bracket"].item_id) == {"I000", "I001", "I002"}


def test_stage1_corpus(store, phrasings):
    prepared, catalog = store
    texts = [f"Title: {t}" for t in prepared.items.title]
    steerable = steerable_attributes(prepared, phrasings)
    config = CorpusConfig(sequence_length=5)
    corpus = stage1_corpus(prepared, catalog, texts, config, steerable, seed=3)
    id_docs = [d for d in corpus if "\nID: " in d]
    assert len(id_docs) == len(prepared.items)
    assert sorted(catalog.items_in(d)[0] for d in id_docs) == sorted(prepared.items.item_id)
    for item, title in zip(prepared.items.item_id, prepared.items.title):
        assert f"{catalog.sid(item)} is {title}." in corpus
    user_docs = [d for d in corpus if not d.startswith("Title: ") and " is " not in d]
    expected = [" ".join(catalog.sid(i) for i in seq[-5:]) for seq in train_sequences(prepared).values()]
    assert sorted(user_docs) == sorted(expected)
    assert len(corpus) == 2 * len(prepared.items) + len(prepared.sequences)
    assert stage1_corpus(prepared, catalog, texts, config, steerable, seed=3) == corpus
    assert stage1_corpus(prepared, catalog, texts, config, steerable, seed=4) != corpus


def test_stage1_corpus_repeats_sequences_and_fact_lines(store, phrasings):
    prepared, catalog = store
    texts = [f"Title: {t}" for t in prepared.items.title]
    steerable = steerable_attributes(prepared, phrasings)
    facts = item_facts(prepared, steerable)
    config = CorpusConfig(sequence_length=5, sequence_repeats=3, fact_repeats=2)
    corpus = stage1_corpus(prepared, catalog, texts, config, steerable, seed=3)
    sequences = [format_history(seq, catalog, 5) for seq in train_sequences(prepared).values() if seq]
    assert all(corpus.count(doc) >= 3 for doc in sequences)
    item, title = prepared.items.item_id.iloc[0], prepared.items.title.iloc[0]
    line = f"{describe_item(title, facts[item])}\nID: {catalog.sid(item)}"
    assert corpus.count(line) == 2 and "Genre: " in line
    assert len(corpus) == 2 * len(prepared.items) + 2 * len(prepared.items) + 3 * len(sequences)


def test_value_listings_name_a_value_then_only_items_that_have_it(store, phrasings):
    prepared, catalog = store
    steerable = steerable_attributes(prepared, phrasings)
    documents = value_listings(steerable, catalog, repeats=2, size=4, rng=np.random.default_rng(3))
    holders = steerable.groupby(["attribute", "text"]).item_id.apply(set)
    seen: dict[tuple[str, str], list[str]] = {}
    for document in documents:
        head, listed = document.split(". <|sid_start|>")[0], catalog.items_in(document)
        name, text = head.split(": ", 1)
        attribute = name.lower().replace(" ", "_")
        assert 1 <= len(listed) <= 4 and set(listed) <= holders[(attribute, text)]
        seen.setdefault((attribute, text), []).extend(listed)
    # Each round lists every holder once: two rounds, each item twice.
    assert {key: sorted(items) for key, items in seen.items()} == {
        key: sorted(list(items) * 2) for key, items in holders.items()
    }
    texts = [f"Title: {t}" for t in prepared.items.title]
    config = CorpusConfig(sequence_length=5, listing_repeats=2, listing_size=4)
    corpus = stage1_corpus(prepared, catalog, texts, config, steerable, seed=3)
    listings = [d for d in corpus if d.split(": ")[0] in {"Platform", "Genre", "Franchise", "Price tier"}]
    listings += [d for d in corpus if d.startswith("Multiplayer: ")]
    assert sorted(listings) == sorted(documents)  # the same draws: the corpus seed drives them


def test_steer_listings_follow_a_train_history_with_its_best_fitting_holders(store, phrasings):
    prepared, catalog = store
    steerable = steerable_attributes(prepared, phrasings)
    picker = SteerPicker(prepared, catalog, steerable, item_facts(prepared, steerable))
    config = CorpusConfig(prompt_history=4, steer_listings_per_user=2, steer_pool=5)
    documents = steer_listings(prepared, catalog, picker, config, np.random.default_rng(0))
    assert len(documents) > 1.5 * len(prepared.sequences)
    holders = steerable.groupby(["attribute", "text"]).item_id.apply(set)
    train = train_sequences(prepared)
    sequences = dict(zip(prepared.sequences.user_id, prepared.sequences.item_ids))
    sid = r"<\|sid_start\|>\S+?<\|sid_end\|>"
    pattern = re.compile(
        rf"(?P<shown>(?:{sid} )+)(?P<name>[A-Z][a-z ]+): (?P<text>.+?)\. (?P<listed>{sid}.*)"
    )
    for document in documents:
        found = pattern.fullmatch(document)
        shown, listed = catalog.items_in(found["shown"]), catalog.items_in(found["listed"])
        assert 1 <= len(shown) <= 4 and 1 <= len(listed) <= 5 and len(set(listed)) == len(listed)
        assert set(listed) <= holders[(found["name"].lower().replace(" ", "_"), found["text"])]
        # Some user bought the items shown, in that order, and none of the listed ones before or after.
        assert any(
            not set(listed) & (set(seq[:t]) | set(sequences[user][-2:]))
            for user, seq in train.items()
            for t in range(len(shown), len(seq))
            if seq[t - len(shown) : t] == shown
        )
        assert not set(listed) & set(shown)


def test_format_history_keeps_the_most_recent():
    catalog = fake_catalog(["a", "b", "c"])
    assert format_history(["a", "b", "c"], catalog, 2) == f"{catalog.sid('b')} {catalog.sid('c')}"


def test_describe_item():
    facts = {
        "platform": ["PC"],
        "genre": ["Horror"],
        "franchise": ["Feral Infection"],
        "price_tier": ["Standard"],
    }
    assert describe_item("Feral Infection 2 - PC", facts) == (
        "Feral Infection 2 - PC. Platform: PC; Genre: Horror; Franchise: Feral Infection; "
        "Price tier: Standard."
    )
    assert describe_item("Drill", {"brand": ["Acme"], "keyword": ["drill"]}) == "Drill. Brand: Acme."
    assert describe_item("Drill", {}) == "Drill."


def test_explain_answer(phrasings):
    facts = {
        "T": {"platform": ["PC"], "genre": ["Horror"]},
        "X": {"platform": ["PC"], "genre": ["Horror"]},
        "Y": {"genre": ["Horror"]},
        "Z": {"platform": ["Wii"]},
    }
    titles = {"T": "Target", "X": "Ex", "Y": "Why", "Z": "Zed"}
    templates = phrasings["explanations"]
    assert explain_answer("T", ["X", "Z", "Y"], facts, titles, templates) == (
        'It is a Horror game, like "Why" and "Ex" in your history, and it runs on PC, which you play on.'
    )
    assert (
        explain_answer("T", ["Z"], facts, titles, templates) == 'People who bought "Zed" often buy it next.'
    )


def test_load_phrasings_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.json"):
        load_phrasings(tmp_path / "nowhere.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="broken.json"):
        load_phrasings(broken)
    partial = tmp_path / "partial.json"
    partial.write_text('{"next_item": {}}')
    with pytest.raises(ValueError, match="partial.json.*requests"):
        load_phrasings(partial)


def _train_lists(tree) -> list[str]:
    """Every phrasing under a ``train`` key of ``tree``."""
    if isinstance(tree, dict):
        return [t for k, v in tree.items() for t in (v if k == "train" else _train_lists(v))]
    return []


def test_compound_requests_never_train_on_heldout_combinations(store, mix):
    prepared, catalog = store
    compound = mix[mix.task == "compound"]
    assert set(compound.attribute) == set(COMPOUND_KINDS)
    facts = item_facts(prepared, steerable_attributes(prepared, load_phrasings()))
    pairs = compound[compound.attribute.isin(["pair", "refine"])]
    assert len(pairs) > 50
    for detail, target in zip(pairs.value, pairs.target_item):
        values = re.findall(r"(\w+)=(.+?)(?: \+ | then |$)", detail)
        assert len(values) == 2 and not is_heldout(values), detail
        assert all(
            value in facts[target].get(attribute, ()) for attribute, value in values
        )  # the answer fits
    # The benchmark asks for held-out combinations only, each met by its answers.
    index = HolderIndex(prepared.items.item_id.tolist(), facts)
    asked = build_compound_requests(
        prepared, steerable_attributes(prepared, load_phrasings()), load_phrasings(), index, 10
    )
    combined = asked[asked.kind.isin(["pair", "refine"])]
    assert len(combined) > 10
    assert all(is_heldout([(c.attribute, c.values[0]) for c in cs]) for cs in combined.constraints)
    oracle = asked[asked.variant == "oracle"]
    assert all(all(c.met_by(facts[t]) for c in cs) for cs, t in zip(oracle.constraints, oracle.target))


def test_compound_requests_mean_what_they_say(store):
    prepared, _ = store
    phrasings = load_phrasings()
    steerable = steerable_attributes(prepared, phrasings)
    facts = item_facts(prepared, steerable)
    asked = build_compound_requests(prepared, steerable, phrasings, per_kind=15, seed=2)
    for row in asked.itertuples():
        recent = row.history[-10:]
        if row.kind == "negation":  # a value at least two recent items hold, excluded
            (excluded,) = row.constraints
            assert not excluded.include
            holding = [i for i in recent if excluded.values[0] in facts[i].get(excluded.attribute, ())]
            assert len(holding) >= 2, row
        elif row.kind == "like_but":  # the last item's genre, and a change the last item itself lacks
            like, change = row.constraints
            assert row.reference == row.history[-1] and row.turns[0].count('"') == 2
            assert like.attribute == "genre" and like.met_by(facts[row.reference])
            assert not change.met_by(facts[row.reference]), row
        elif row.kind == "refine":  # the first turn asks for one value, the second narrows it
            assert len(row.turns) == 2 and row.first == row.constraints[:1]
        else:
            assert len(row.turns) == 1 and len(row.constraints) == 2
