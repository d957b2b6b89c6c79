"""`nmt serve`: a translation and attention explorer in the browser.

One page (`nmt/static/serve.html`, no external files) and three JSON endpoints, served by FastAPI
on uvicorn, bound to 127.0.0.1 unless told otherwise:

- `GET /api/info`: the runs (name, model, layers and heads of the cross-attention) and the
  input limit;
- `POST /api/translate` `{"text": ..., "decode": "greedy"|"beam"|"sample", "num_beams", "alpha",
  "temperature", "top_k", "top_p", "seed"}`: per run, the translation, its output tokens and ids,
  the n-best list with scores (beam search), and the cross-attention of every decoder layer and
  head (None for the attention-free GRU);
- `POST /api/next` `{"run", "text", "target_ids", "position", "temperature"}`: the 10 most likely
  tokens at one output position of a translation, with their probabilities at that temperature
  (one teacher-forced pass of the model over the translation).

Each run is loaded once (`nmt.ctranslate2.load_translator`); decoding is the project's batched,
cached decoder, or CTranslate2's for a CTranslate2 export (`nmt export --format ctranslate2`),
which has no attention to show (the page says so) but the same translations, n-best lists and
next-token distributions.
Requests are answered one model call at a time (a lock), so concurrent requests queue. A bad
request gets HTTP 400 and `{"error": "one line saying what to change"}`; a failure inside the
model gets HTTP 500 and `{"error": ...}`, is logged on stderr, and the server keeps serving.

A run folder is served with `serve(["runs/small"])`; here, the `Explorer` that answers the
endpoints' requests, over an untrained translator built from tiny vocabularies:

Example:
>>> from nmt.config import resolve_config
>>> from nmt.translator import Translator, make_tokenizers
>>> pairs = [("I love AI.", "Me encanta la IA."), ("Go.", "Ve.")]
>>> config = resolve_config("transformer", "tiny", vocab_size=40, sequence_length=8)
>>> explorer = Explorer([("tiny", Translator.create(config, *make_tokenizers(config, pairs)))])
>>> answer = explorer.translate({"text": "I love AI.", "decode": "beam", "num_beams": 3})
>>> run = answer["runs"][0]
>>> run["model"], len(run["nbest"]), run["attention"]["layers"], run["attention"]["heads"]
('transformer', 3, 1, 2)
>>> explorer.translate({"text": 42})
Traceback (most recent call last):
...
nmt.serve.ServeError: "text" must be a string, not a number
"""

import math
import os
import re
import socket
import subprocess
import sys
import threading
import time
import traceback

import numpy as np
import tensorflow as tf

from data.errors import NmtError
from models.registry import MODELS
from nmt.config import ConfigError, Decoding
from nmt.ctranslate2 import load_translator

PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static", "serve.html")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
DEFAULT_MAX_CHARS = 300
MAX_RUNS = 4
MAX_BEAMS = 16  # a larger beam only costs time: each request holds the model while it decodes
TOP_TOKENS = 10
DECODING_FIELDS = ("decode", "num_beams", "alpha", "temperature", "top_k", "top_p", "seed")
NO_ATTENTION = "the attention-free GRU has no cross-attention: the whole sentence reaches the " \
               "decoder as one vector (the encoder's last state)"


class ServeError(NmtError):
    """A request or a `serve` setting that cannot be used as given; the message says why."""


def _kind(value):
    """The JSON name of a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _integer(payload, name, default=None):
    value = payload.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or not float(value).is_integer():
        raise ServeError(f'"{name}" must be an integer, not {_kind(value)}'
                         + (f" ({value!r})" if isinstance(value, (int, float)) else ""))
    return int(value)


def _number(payload, name, default=None):
    value = payload.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ServeError(f'"{name}" must be a finite number, not {_kind(value)}')
    return float(value)


def _object(payload, known):
    """`payload` if it is a JSON object with only `known` fields."""
    if not isinstance(payload, dict):
        raise ServeError(f"the request must be a JSON object, not {_kind(payload)}")
    unknown = sorted(set(payload) - set(known))
    if unknown:
        raise ServeError(f"unknown field {unknown[0]!r}; the fields are {', '.join(known)}")
    return payload


class Explorer:
    """The runs the server shows and the answers of its endpoints (no web framework here).

    Args:
        runs: list of (name, `Translator`).
        max_chars: int. The longest input accepted, in characters.
    """

    def __init__(self, runs, max_chars=DEFAULT_MAX_CHARS):
        if not runs:
            raise ServeError("give at least one --run")
        if max_chars < 1:
            raise ServeError(f"--max-chars {max_chars} must be >= 1")
        self.runs = list(runs)
        self.max_chars = max_chars
        # One model call at a time: requests from several clients queue here.
        self.lock = threading.Lock()
        self._forward = {}

    @classmethod
    def load(cls, folders, max_chars=DEFAULT_MAX_CHARS, warm_up=False):
        """Load each run folder once (a missing or damaged one is a `RunError`); with `warm_up`,
        compile the greedy decoder and the teacher-forced pass now, not on the first request."""
        if len(folders) > MAX_RUNS:
            raise ServeError(f"{len(folders)} runs given; the page shows at most {MAX_RUNS} "
                             "side by side")
        names = [os.path.basename(os.path.normpath(folder)) for folder in folders]
        if len(set(names)) < len(names):  # two runs/x folders: show the paths
            names = [os.path.normpath(folder) for folder in folders]
        explorer = cls([(name, load_translator(folder)) for name, folder in zip(names, folders)],
                       max_chars=max_chars)
        if warm_up:
            answer = explorer.translate({"text": "Hello."})
            for index, run in enumerate(answer["runs"]):
                explorer.next_token({"run": index, "text": "Hello.", "position": 0,
                                     "target_ids": run["target_ids"]})
        return explorer

    # Requests.

    def info(self):
        """The runs and the input limit, for the page."""
        runs = []
        for name, translator in self.runs:
            config = translator.config
            shape = self._attention_shape(translator)
            runs.append({"name": name, "model": _model_name(translator),
                         "tokenizer": config.tokenizer,
                         "sequence_length": config.sequence_length,
                         "attention": None if shape is None else
                         {"layers": shape[0], "heads": shape[1]}})
        return {"runs": runs, "max_chars": self.max_chars, "max_beams": MAX_BEAMS,
                "top_tokens": TOP_TOKENS}

    def _text(self, payload):
        if "text" not in payload:
            raise ServeError('the request has no "text" (the English sentence to translate)')
        text = payload["text"]
        if not isinstance(text, str):
            raise ServeError(f'"text" must be a string, not {_kind(text)}')
        if not text.strip():
            raise ServeError("type an English sentence to translate (the input is empty)")
        if len(text) > self.max_chars:
            raise ServeError(f"the input is {len(text):,} characters long; the limit is "
                             f"{self.max_chars:,} (nmt serve --max-chars)")
        return text.strip()

    def _decoding(self, payload):
        values = {name: payload[name] for name in DECODING_FIELDS if name in payload}
        try:
            decoding = Decoding(**values).validate()
        except ConfigError as error:
            # "num_beams=0 (--num-beams) must be >= 1" -> without the command-line flag.
            raise ServeError(str(error).replace(f" ({_flag_in(str(error))})", "")) from None
        if decoding.num_beams > MAX_BEAMS:
            raise ServeError(f"num_beams={decoding.num_beams} is more than this server's "
                             f"{MAX_BEAMS}")
        for _, translator in self.runs:
            if decoding.top_k > translator.target_tokenizer.vocab_size:
                raise ServeError(f"top_k={decoding.top_k} is larger than the Spanish vocabulary "
                                 f"({translator.target_tokenizer.vocab_size:,})")
        return decoding

    def translate(self, payload):
        """Answer `POST /api/translate` (see the module docstring); `ServeError` if bad."""
        payload = _object(payload, ("text",) + DECODING_FIELDS)
        text = self._text(payload)
        decoding = self._decoding(payload)
        started = time.perf_counter()
        with self.lock:
            runs = [self._translate_one(name, translator, text, decoding)
                    for name, translator in self.runs]
        return {"text": text, "decode": decoding.decode, "runs": runs,
                "seconds": round(time.perf_counter() - started, 4)}

    def _translate_one(self, name, translator, text, decoding):
        config = translator.config
        answer = {"name": name, "model": _model_name(translator), "warning": None,
                  "nbest": None}
        source_ids = translator.source_tokenizer.encode([text])
        if not source_ids.any():
            raise ServeError("the input has no words (only punctuation?); type a sentence")
        if translator.overlong([text]):
            unit = "words" if config.tokenizer == "word" else "tokens"
            answer["warning"] = (f"{name} reads {config.sequence_length} {unit} at most; the "
                                 "rest of the input was left out")
        if decoding.decode == "beam":
            nbest = translator.translate_nbest(text, num_beams=decoding.num_beams,
                                               alpha=decoding.alpha)
            answer["nbest"] = [{"translation": t, "score": round(s, 4)} for t, s, _ in nbest]
            translation, ids = nbest[0][0], nbest[0][2]
        else:
            outputs, rows = translator.translate([text], return_ids=True, seed=decoding.seed,
                                                 **decoding.options())
            translation, ids = outputs[0], rows[0]
        ids = [int(i) for i in _through_end(ids, translator.target_tokenizer.end_id)]
        answer.update(translation=translation, target_ids=ids,
                      tokens=translator.target_tokenizer.tokens(ids[1:]))
        found = translator.attention(text, np.asarray(ids), all_layers=True, compiled=True)
        if found is None:
            answer["attention"] = None
            answer["attention_note"] = getattr(translator, "attention_note", None) or NO_ATTENTION
        else:
            weights, source_tokens, target_tokens = found
            answer["attention"] = {"layers": int(weights.shape[0]), "heads": int(weights.shape[1]),
                                   "source_tokens": source_tokens, "target_tokens": target_tokens,
                                   # (layers, heads, output tokens, source tokens)
                                   "weights": np.round(weights.astype("float64"), 4).tolist()}
        return answer

    def next_token(self, payload):
        """Answer `POST /api/next`: the `TOP_TOKENS` most likely tokens at output `position`
        (0 = the first token after `[start]`) of the translation `target_ids` of `text`, given
        the tokens before it, with probabilities softmax(logits / temperature)."""
        payload = _object(payload, ("run", "text", "target_ids", "position", "temperature"))
        index = _integer(payload, "run", 0)
        if not 0 <= index < len(self.runs):
            raise ServeError(f'"run" {index} is not one of this server\'s runs (0 to '
                             f"{len(self.runs) - 1})")
        name, translator = self.runs[index]
        text = self._text(payload)
        temperature = _number(payload, "temperature", 1.0)
        if not temperature > 0:
            raise ServeError(f"temperature={temperature} must be > 0")
        target = translator.target_tokenizer
        ids = payload.get("target_ids")
        if not isinstance(ids, list) or not ids or \
                any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
            raise ServeError('"target_ids" must be a list of token ids (those /api/translate '
                             "returned), starting with [start]")
        if ids[0] != target.start_id or not all(0 <= i < target.vocab_size for i in ids) or \
                len(ids) > translator.config.sequence_length + 1:
            raise ServeError(f'"target_ids" are not a translation of run {name!r}: they must start '
                             f"with [start] (id {target.start_id}), be ids below "
                             f"{target.vocab_size:,} and at most "
                             f"{translator.config.sequence_length + 1} long")
        ids = list(_through_end(ids, target.end_id))
        position = _integer(payload, "position")
        if not 0 <= position < len(ids) - 1:
            raise ServeError(f"position={position} is not an output position of this "
                             f"translation (0 to {len(ids) - 2})")
        source_ids = translator.source_tokenizer.encode([text])
        width = max(1, int((source_ids != 0).sum()))
        with self.lock:
            logits = self._next_logits(translator, source_ids[:, :width], ids[: position + 1])
        logits = logits.astype("float64") / temperature
        probabilities = np.exp(logits - logits.max())
        probabilities /= probabilities.sum()
        best = np.argsort(-probabilities, kind="stable")[:TOP_TOKENS]
        tokens = target.tokens(best)
        chosen = ids[position + 1] if position + 1 < len(ids) else None
        return {"run": name, "position": position, "temperature": temperature,
                "prefix": target.tokens(ids[1 : position + 1]),
                "chosen": None if chosen is None else target.tokens([chosen])[0],
                "chosen_probability": None if chosen is None else float(probabilities[chosen]),
                "top": [{"token": token, "id": int(i), "probability": float(probabilities[i])}
                        for token, i in zip(tokens, best)]}

    def _logits(self, translator, source_ids, target_ids):
        """(1, tgt_len, vocab) next-token logits of one teacher-forced pass (compiled once)."""
        key = id(translator)
        if key not in self._forward:
            model = translator.model

            @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int64),
                                          tf.TensorSpec([None, None], tf.int64)])
            def forward(source, target):
                return model({"english": source, "spanish": target}, training=False)

            self._forward[key] = forward
        return self._forward[key](tf.constant(source_ids), tf.constant(target_ids)).numpy()

    def _next_logits(self, translator, source_ids, target_ids):
        """(vocab,) logits of the token after `target_ids` (a list from [start]): the last
        position of the teacher-forced pass, or CTranslate2's step after them for an export."""
        if hasattr(translator, "next_logits"):
            return translator.next_logits(source_ids, target_ids)
        return self._logits(translator, source_ids, np.asarray([target_ids], "int64"))[0, -1]

    @staticmethod
    def _attention_shape(translator):
        """(layers, heads) of the model's cross-attention, or None without attention."""
        config = translator.config
        if not MODELS[config.model].has_attention or getattr(translator, "attention_note", None):
            return None
        if config.model == "transformer":
            return config.num_layers, config.num_heads
        return 1, 1  # Luong attention: one score per source word


def _model_name(translator):
    """The model's name on the page: "transformer", or "transformer, CTranslate2 int8" for an
    export."""
    quantization = getattr(translator, "quantization", None)
    model = translator.config.model
    return f"{model}, CTranslate2 {quantization}" if quantization else model


def _flag_in(message):
    """The "--flag" in parentheses of a `ConfigError` message, or ""."""
    start = message.find("(--")
    return message[start + 1 : message.find(")", start)] if start >= 0 else ""


def _through_end(ids, end_id):
    """The ids up to and including the first [end] (all of them if there is none), no padding."""
    ids = [int(i) for i in ids]
    if end_id in ids:
        return ids[: ids.index(end_id) + 1]
    while ids and ids[-1] == 0:
        ids.pop()
    return ids


# The web app.


def create_app(explorer):
    """The FastAPI app: the page and the JSON endpoints over `explorer`."""
    from fastapi import Body, FastAPI
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse

    app = FastAPI(title="nmt serve", docs_url=None, redoc_url=None, openapi_url=None)
    with open(PAGE, encoding="utf-8") as f:
        page = f.read()

    def answer(method, payload):
        try:
            return JSONResponse(method(payload))
        except ServeError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        except Exception as error:  # a bug or a model failure: answer it, log it, keep serving
            traceback.print_exc(file=sys.stderr)
            return JSONResponse({"error": f"internal error: {type(error).__name__}: {error} "
                                 "(the server keeps running; its log has the traceback)"},
                                status_code=500)

    @app.exception_handler(RequestValidationError)
    def not_json(request, error):
        return JSONResponse({"error": "the request body must be a JSON object"}, status_code=400)

    @app.get("/", response_class=HTMLResponse)
    def index():
        return page

    @app.get("/api/info")
    def info():
        return explorer.info()

    # Sync handlers: FastAPI runs them in its thread pool; the explorer's lock queues them.
    @app.post("/api/translate")
    def translate(payload: dict = Body(...)):
        return answer(explorer.translate, payload)

    @app.post("/api/next")
    def next_token(payload: dict = Body(...)):
        return answer(explorer.next_token, payload)

    return app


def listening_socket(host, port):
    """A socket bound to (host, port) (port 0: a free one); `ServeError` if it cannot be."""
    if not 0 <= port <= 65535:
        raise ServeError(f"--port {port} must be in 0..65535")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise ServeError(f"--host {host}: not an address of this machine ({error.strerror})") \
            from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as error:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port} ({error.strerror}); give another "
                         "--port") from None
    sock.set_inheritable(True)
    return sock


ADDRESS_LINE = re.compile(r"nmt serve: (http://\S+?)/? \(")  # the line `serve` prints


def start(folders, *flags, stderr=None, timeout=300):
    """Start `python -m nmt serve --port 0 --run FOLDER ... FLAGS` in a new process; return
    (process, base URL without the final "/") once it has printed its address.

    Its standard output is read to the end in a thread, so the server never blocks on it; its
    standard error goes to `stderr` (a file; None: this process'). Raises `ServeError`, the
    process killed, when it exits or prints no address within `timeout` seconds.
    """
    command = [sys.executable, "-m", "nmt", "serve", "--port", "0", *flags]
    for folder in folders:
        command += ["--run", folder]
    process = subprocess.Popen(command, cwd=os.path.dirname(os.path.dirname(PAGE)),
                               stdout=subprocess.PIPE, stderr=stderr, text=True,
                               env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    found = threading.Event()
    url = []

    def read_output():
        for line in process.stdout:
            match = ADDRESS_LINE.match(line)
            if match and not url:
                url.append(match.group(1))
                found.set()

    threading.Thread(target=read_output, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not found.wait(0.1):
        if process.poll() is not None:
            raise ServeError(f"nmt serve did not start: it exited with code {process.returncode}")
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise ServeError(f"nmt serve did not start: no address printed in {timeout} s")
    return process, url[0]


def serve(folders, host=DEFAULT_HOST, port=DEFAULT_PORT, max_chars=DEFAULT_MAX_CHARS):
    """Load the runs, bind (host, port), print the address and serve until Ctrl-C."""
    import uvicorn

    sock = listening_socket(host, port)  # first: a busy port fails before the models load
    # Each new set of decoding options is a new compiled decoder; TensorFlow's "retracing"
    # warnings about them would fill the log.
    tf.get_logger().setLevel("ERROR")
    try:
        explorer = Explorer.load(folders, max_chars=max_chars, warm_up=True)
        address = sock.getsockname()
        shown = f"[{address[0]}]" if ":" in address[0] else address[0]
        if address[0] not in ("127.0.0.1", "::1"):
            print(f"warning: listening on {address[0]}: other machines can reach this server "
                  "(no login, no encryption)", file=sys.stderr)
        print(f"nmt serve: http://{shown}:{address[1]}/ ({', '.join(n for n, _ in explorer.runs)}"
              "; Ctrl-C stops)", flush=True)
        server = uvicorn.Server(uvicorn.Config(create_app(explorer), log_level="warning"))
        server.run(sockets=[sock])
    finally:
        sock.close()
