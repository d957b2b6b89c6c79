"""nmt/serve.py without a browser: the JSON endpoints translate (greedy, n-best, sampling), show
the cross-attention of every layer and head (none for the attention-free GRU) and the next-token
distribution; bad input gets a one-line message, a failing request does not stop the server,
concurrent requests are all answered; `nmt serve` errors are one line (exit 2).

The runs are the saved fixtures (tests/fixtures/saved_runs), barely trained: the translations
are compared with what `Translator` gives, not judged."""

import json
import os
import socket
import threading

import numpy as np
import pytest
from fastapi.testclient import TestClient

from nmt.cli import main
from nmt.serve import MAX_BEAMS, TOP_TOKENS, Explorer, ServeError, create_app
from tests.conftest import ROOT

FIXTURES = os.path.join(ROOT, "tests", "fixtures", "saved_runs")
EXPECTED = json.load(open(os.path.join(FIXTURES, "expected.json"), encoding="utf-8"))
RUNS = ("transformer-wordpiece", "rnn-wordpiece", "gru-word", "transformer-word")
SENTENCE = EXPECTED["sentences"][1]  # "Where is the train station?"


@pytest.fixture(scope="module")
def explorer():
    return Explorer.load([os.path.join(FIXTURES, name) for name in RUNS], max_chars=80)


@pytest.fixture(scope="module")
def client(explorer):
    return TestClient(create_app(explorer))


def _runs(client, **request):
    response = client.post("/api/translate", json={"text": SENTENCE, **request})
    assert response.status_code == 200, response.text
    return {run["name"]: run for run in response.json()["runs"]}


def test_greedy_translations_are_the_translators(client):
    runs = _runs(client)
    assert list(runs) == list(RUNS)
    for name, run in runs.items():
        assert run["translation"] == EXPECTED["runs"][name]["greedy"][1]
        ids = EXPECTED["runs"][name]["greedy_ids"][1]
        assert run["target_ids"] == ids[: len(run["target_ids"])]
        assert len(run["tokens"]) == len(run["target_ids"]) - 1  # the output tokens, no [start]
        assert run["nbest"] is None


def test_beam_search_gives_the_n_best_list_best_first_with_scores(client):
    runs = _runs(client, decode="beam", num_beams=3, alpha=0.6)
    for name, run in runs.items():
        scores = [hypothesis["score"] for hypothesis in run["nbest"]]
        assert len(scores) == 3 and scores == sorted(scores, reverse=True)
        # The first hypothesis is the translation, and what `nmt translate --decode beam` gives.
        assert run["translation"] == run["nbest"][0]["translation"] == \
            EXPECTED["runs"][name]["beam"][1]


def test_sampling_follows_its_seed(client, explorer):
    options = dict(decode="sample", temperature=0.8, top_k=20, top_p=0.9)
    first, again = _runs(client, seed=3, **options), _runs(client, seed=3, **options)
    others = [_runs(client, seed=seed, **options) for seed in (4, 5)]
    for index, (name, translator) in enumerate(explorer.runs):
        assert first[name]["translation"] == again[name]["translation"] == translator.translate(
            [SENTENCE], decode="sample", temperature=0.8, top_k=20, top_p=0.9, seed=3)[0]
    assert any(first[name]["translation"] != other[name]["translation"]
               for other in others for name in first)


def test_attention_of_every_layer_and_head_and_none_for_the_gru(client):
    runs = _runs(client)
    # transformer-wordpiece has 2 decoder blocks of 2 heads; the RNN's Luong attention is one
    # layer and one head.
    for name, layers, heads in (("transformer-wordpiece", 2, 2), ("transformer-word", 1, 2),
                                ("rnn-wordpiece", 1, 1)):
        attention = runs[name]["attention"]
        weights = np.array(attention["weights"])
        assert weights.shape == (layers, heads, len(runs[name]["tokens"]),
                                 len(attention["source_tokens"]))
        assert (attention["layers"], attention["heads"]) == (layers, heads)
        assert attention["target_tokens"] == runs[name]["tokens"]
        np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-3)  # over source words
    assert runs["gru-word"]["attention"] is None
    assert "no cross-attention" in runs["gru-word"]["attention_note"]
    info = client.get("/api/info").json()
    assert [run["attention"] for run in info["runs"]] == [
        {"layers": 2, "heads": 2}, {"layers": 1, "heads": 1}, None, {"layers": 1, "heads": 2}]
    assert info["max_chars"] == 80


def test_the_last_layers_attention_is_what_translate_plots(explorer, client):
    run = _runs(client)["transformer-wordpiece"]
    translator = explorer.runs[0][1]
    weights, _, _ = translator.attention(SENTENCE, np.array(run["target_ids"]))
    np.testing.assert_allclose(np.array(run["attention"]["weights"])[-1], weights, atol=1e-4)


def _next(client, run, position, temperature=1.0, index=0):
    return client.post("/api/next", json={"run": index, "text": SENTENCE, "position": position,
                                          "target_ids": run["target_ids"],
                                          "temperature": temperature})


def test_next_token_distribution_is_the_top_10_sorted_and_greedy_chose_the_first(client):
    runs = _runs(client)
    for index, name in enumerate(RUNS):
        run = runs[name]
        for position in range(len(run["tokens"])):
            answer = _next(client, run, position, index=index).json()
            probabilities = [t["probability"] for t in answer["top"]]
            assert len(probabilities) == TOP_TOKENS
            assert probabilities == sorted(probabilities, reverse=True)
            assert 0 < sum(probabilities) <= 1 + 1e-9
            assert answer["prefix"] == run["tokens"][:position]
            assert answer["chosen"] == run["tokens"][position]
            # Greedy decoding took the most likely token: the teacher-forced pass agrees.
            assert answer["top"][0]["id"] == run["target_ids"][position + 1], (name, position)


def test_a_lower_temperature_sharpens_the_next_token_distribution(client):
    run = _runs(client)["transformer-wordpiece"]
    cold, warm = (_next(client, run, 0, t).json()["top"][0]["probability"] for t in (0.3, 3.0))
    assert cold > warm


@pytest.mark.parametrize("body, message", [
    ({"text": ""}, "type an English sentence to translate (the input is empty)"),
    ({"text": "   "}, "type an English sentence to translate (the input is empty)"),
    ({"text": "a" * 81},
     "the input is 81 characters long; the limit is 80 (nmt serve --max-chars)"),
    ({"text": 42}, '"text" must be a string, not a number'),
    ({"text": ["Hi."]}, '"text" must be a string, not a list'),
    ({}, 'the request has no "text" (the English sentence to translate)'),
    ({"text": "Hi.", "decode": "nucleus"},
     "decode='nucleus' is not one of ('greedy', 'sample', 'beam')"),
    ({"text": "Hi.", "decode": "beam", "num_beams": 0}, "num_beams=0 must be >= 1"),
    ({"text": "Hi.", "decode": "beam", "num_beams": MAX_BEAMS + 1},
     f"num_beams={MAX_BEAMS + 1} is more than this server's {MAX_BEAMS}"),
    ({"text": "Hi.", "decode": "sample", "temperature": 0}, "temperature=0 must be > 0"),
    ({"text": "Hi.", "decode": "sample", "top_k": 10 ** 6},
     "top_k=1000000 is larger than the Spanish vocabulary (153)"),
    ({"text": "Hi.", "beams": 4}, "unknown field 'beams'; the fields are text, decode, "
     "num_beams, alpha, temperature, top_k, top_p, seed"),
    ({"text": "?!"}, "the input has no words (only punctuation?); type a sentence"),
])
def test_bad_input_gets_one_line_saying_what_to_change(client, body, message):
    response = client.post("/api/translate", json=body)
    assert response.status_code == 400
    assert response.json() == {"error": message}


@pytest.mark.parametrize("content", ["[1, 2]", "not json", '"Hi."'])
def test_a_body_that_is_not_a_json_object_is_refused_in_one_line(client, content):
    response = client.post("/api/translate", content=content,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"error": "the request body must be a JSON object"}


@pytest.mark.parametrize("change, message", [
    ({"position": 99}, "position=99 is not an output position of this translation (0 to "),
    ({"position": "1"}, '"position" must be an integer, not a string'),
    ({"run": 7}, '"run" 7 is not one of this server\'s runs (0 to 3)'),
    ({"target_ids": [5, 6]}, '"target_ids" are not a translation of run'),
    ({"target_ids": "2 5"}, '"target_ids" must be a list of token ids'),
    ({"temperature": -1}, "temperature=-1.0 must be > 0"),
])
def test_bad_next_token_requests_get_one_line(client, change, message):
    run = _runs(client)["transformer-wordpiece"]
    body = {"run": 0, "text": SENTENCE, "position": 0, "target_ids": run["target_ids"], **change}
    response = client.post("/api/next", json=body)
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)


def test_a_failing_request_is_answered_and_the_server_keeps_serving(client, explorer,
                                                                     monkeypatch, capsys):
    translator = explorer.runs[0][1]

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(translator, "translate", broken)
    response = client.post("/api/translate", json={"text": SENTENCE})
    assert response.status_code == 500
    assert response.json()["error"].startswith("internal error: RuntimeError: out of memory")
    assert "Traceback" in capsys.readouterr().err  # logged for the operator, not the page
    monkeypatch.undo()
    assert client.post("/api/translate", json={"text": SENTENCE}).status_code == 200
    assert not explorer.lock.locked()


def test_concurrent_requests_are_all_answered_one_model_call_at_a_time(explorer):
    answers, errors = [], []

    def ask(seed):
        try:
            answer = explorer.translate({"text": SENTENCE, "decode": "sample", "seed": seed})
            answers.append((seed, [run["translation"] for run in answer["runs"]]))
        except Exception as error:  # noqa: BLE001  (collected, then asserted empty)
            errors.append(error)

    threads = [threading.Thread(target=ask, args=(i % 2,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors and len(answers) == 8
    # Each answer is what the run gives alone: requests did not mix.
    for seed, translations in answers:
        assert translations == [translator.translate([SENTENCE], decode="sample", seed=seed)[0]
                                for _, translator in explorer.runs]


def test_the_page_is_served_and_needs_nothing_from_elsewhere(client):
    response = client.get("/")
    assert response.status_code == 200 and "text/html" in response.headers["content-type"]
    page = response.text
    assert "/api/translate" in page and "/api/next" in page
    for external in ('src="http', "src='http", 'href="http', "@import", "cdn"):
        assert external not in page


def test_serve_settings_are_checked():
    with pytest.raises(ServeError, match="--max-chars 0 must be >= 1"):
        Explorer([("x", None)], max_chars=0)
    with pytest.raises(ServeError, match="5 runs given; the page shows at most 4"):
        Explorer.load(["a"] * 5)


def test_serve_errors_are_one_line_with_exit_code_2(capsys, tmp_path):
    missing = tmp_path / "missing"
    assert main(["serve", "--run", str(missing), "--port", "0"]) == 2
    assert capsys.readouterr().err == f"nmt serve: error: {missing}: run folder not found\n"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        assert main(["serve", "--run", os.path.join(FIXTURES, "gru-word"), "--port",
                     str(port)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"nmt serve: error: cannot listen on 127.0.0.1:{port} (") and \
        err.endswith("); give another --port\n")
    assert main(["serve", "--run", str(missing), "--max-chars", "0"]) == 2
    assert capsys.readouterr().err == "nmt serve: error: --max-chars 0 must be >= 1\n"
