"""The HTTP API through the real app and lifespan: endpoints, readiness, token, CORS, docs, side panel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

import app.api
from app.api import create_app
from app.api.schemas import ReadyOut, ReplyOut, ScenarioOut, SearchOut, VocabularyOut
from app.config import Settings
from app.replies import ReplyRequest, Turn
from app.service import KefuService
from app.vocabulary import PLATFORMS
from tests.api import assert_error, running, wait_loaded
from tests.conftest import CORPUS, REPO

MESSY = [
    "这件衣服170斤穿什么码",
    "亲，偏小了能换吗？运费谁出！",  # full-width punctuation, two matters
    "快递到哪了😭😭",
    "這件衣服有優惠嗎",  # Traditional
    "XL码还有货吗",
    "在吗",  # a greeting, no matter yet
    "嗯嗯😀",  # no request at all: abstains
    "[数字x]号下的单 #E-s46 怎么还没发",  # JD's anonymisation and emoji codes
    "发货" * 1000,  # a 2,000-character paste, right at the limit
]


def test_public_api_is_create_app():
    assert app.api.__all__ == ["create_app"]


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_model_and_counts(client, fake_service):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    ReadyOut.model_validate(body)
    retriever = fake_service.retriever
    assert body["status"] == "ready"
    assert body["model"] == "fake-hashed-ngrams"
    assert body["counts"] == {"passages": len(retriever.passages.rows), "examples": len(retriever.examples.rows),
                              "templates": len(retriever.templates)}


@pytest.mark.parametrize("message", MESSY)
def test_reply_is_the_service_result(client, fake_service, message):
    response = client.post("/v1/reply", json={"message": message})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert len(answer.pop("suggestion_id")) == 32  # the answer's id, for /v1/feedback; the rest is the service's
    assert answer == fake_service.reply(ReplyRequest(message, platform="taobao")).as_dict()
    ReplyOut.model_validate(response.json())  # the documented schema matches what is sent


def test_reply_passes_every_field(client, fake_service):
    body = {
        "message": "偏小了能换吗,运费谁出",
        "platform": "jd",
        "top_k": 5,
        "first_turn": False,
        "history": [{"role": "buyer", "text": "在吗"}, {"role": "agent", "text": "在的亲"}],
        "slots": {"days": "3", "coupon": "满200减20券"},
    }
    response = client.post("/v1/reply", json=body)
    assert response.status_code == 200, response.text
    expected = fake_service.reply(ReplyRequest(
        body["message"], platform="jd", top_k=5, first_turn=False,
        history=(Turn("buyer", "在吗"), Turn("agent", "在的亲")), slots=body["slots"],
    )).as_dict()
    assert {key: value for key, value in response.json().items() if key != "suggestion_id"} == expected
    assert response.json()["platform"] == "jd"
    assert response.json()["first_turn"] is False
    assert len(response.json()["replies"]) == 5


def test_reply_first_turn_follows_the_history(client):
    with_agent = client.post("/v1/reply", json={"message": "能便宜点吗", "history": [{"role": "agent", "text": "在的"}]})
    without = client.post("/v1/reply", json={"message": "能便宜点吗", "history": [{"role": "buyer", "text": "在吗"}]})
    assert with_agent.json()["first_turn"] is False
    assert without.json()["first_turn"] is True


def test_reply_platform_defaults_from_settings(make_client):
    client = make_client(default_platform="tmall")
    response = client.post("/v1/reply", json={"message": "什么时候发货"})
    assert response.status_code == 200
    assert response.json()["platform"] == "tmall"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_reply_every_platform(client, fake_service, platform):
    response = client.post("/v1/reply", json={"message": "能便宜点吗", "platform": platform, "top_k": 20})
    assert response.status_code == 200
    assert {key: value for key, value in response.json().items() if key != "suggestion_id"} == \
        fake_service.reply(ReplyRequest("能便宜点吗", platform=platform, top_k=20)).as_dict()


def test_reply_keeps_chinese_readable(client):
    response = client.post("/v1/reply", json={"message": "这件衣服170斤穿什么码"})
    assert response.headers["content-type"] == "application/json"
    assert "这件衣服170斤穿什么码".encode() in response.content  # not \u-escaped


@pytest.mark.parametrize("message", MESSY)
def test_classify_is_the_scenario_only(client, fake_service, message):
    response = client.post("/v1/classify", json={"message": message})
    assert response.status_code == 200, response.text
    assert response.json() == fake_service.classify(message).as_dict()
    ScenarioOut.model_validate(response.json())


def test_classify_abstains_on_a_fragment(client):
    body = client.post("/v1/classify", json={"message": "嗯嗯😀"}).json()
    assert body["label"] == "other"
    assert body["needs_human"] is True


@pytest.mark.parametrize(("query", "top_k"), [("能便宜点吗", None), ("什么时候发货", 1), ("XL码", 20)])
def test_search_wraps_the_records(client, fake_service, query, top_k):
    payload = {"query": query} if top_k is None else {"query": query, "top_k": top_k}
    response = client.post("/v1/search", json=payload)
    assert response.status_code == 200, response.text
    expected = fake_service.search(query, top_k or 5).as_records()
    assert response.json() == {"results": expected}
    assert sum(record["kind"] == "template" for record in expected) == (top_k or 5)
    SearchOut.model_validate(response.json())


def test_concurrent_requests_agree_with_one_by_one(client, fake_service):
    # Routes run in the threadpool: the shared service must give the same answers under concurrency.
    messages = MESSY[:6] * 4
    results: dict[int, dict] = {}

    def ask(index: int, message: str) -> None:
        answer = client.post("/v1/reply", json={"message": message}).json()
        answer.pop("suggestion_id")
        results[index] = answer

    threads = [threading.Thread(target=ask, args=(i, m)) for i, m in enumerate(messages)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, message in enumerate(messages):
        assert results[index] == fake_service.reply(ReplyRequest(message)).as_dict()


# --- readiness -------------------------------------------------------------------------------


def test_not_ready_while_loading_then_ready(fake_index, fake_service):
    release = threading.Event()

    def slow_factory(settings: Settings):
        assert settings is fake_index
        release.wait(30)
        return fake_service

    app = create_app(fake_index, service_factory=slow_factory)
    try:
        with running(app, wait=False) as client:
            assert client.get("/healthz").json() == {"status": "ok"}  # answers at once, mid-load
            response = client.get("/readyz")
            assert_error(response, 503, "not_ready")
            assert response.headers["retry-after"] == "5"
            for path, payload in [("/v1/reply", {"message": "在吗"}), ("/v1/classify", {"message": "在吗"}),
                                  ("/v1/search", {"query": "在吗"})]:
                assert_error(client.post(path, json=payload), 503, "not_ready")
            release.set()
            wait_loaded(client)
            assert client.get("/readyz").status_code == 200
            assert client.post("/v1/reply", json={"message": "在吗"}).status_code == 200
    finally:
        release.set()


def test_missing_index_is_503_saying_to_build(tmp_path):
    settings = Settings(corpus_dir=CORPUS, index_dir=tmp_path)  # an empty folder: no index
    with running(create_app(settings)) as client:  # the default factory, KefuService.load
        error = assert_error(client.get("/readyz"), 503, "index_missing")
        assert error["message"] == f"no index in {settings.store_dir}; run `kefu build` to rebuild it"
        for path, payload in [("/v1/reply", {"message": "在吗"}), ("/v1/classify", {"message": "在吗"}),
                              ("/v1/search", {"query": "在吗"})]:
            assert assert_error(client.post(path, json=payload), 503, "index_missing") == error
        assert client.get("/healthz").status_code == 200


def test_a_damaged_index_is_503_naming_the_file_not_a_500_per_request(fake_index, fake_embedder, tmp_path):
    """Issue 14, finding 7: one collection's vectors.faiss swapped for another's once loaded, said ready
    and answered 500 to every reply. Now the load refuses it and /readyz says which file."""
    import shutil

    settings = fake_index.model_copy(update={"index_dir": tmp_path / "index"})
    shutil.copytree(fake_index.index_dir, settings.index_dir, symlinks=True)
    store = settings.store_dir
    passages, bank = store / "passages" / "vectors.faiss", store / "bank" / "vectors.faiss"
    data = passages.read_bytes()
    passages.write_bytes(bank.read_bytes())
    bank.write_bytes(data)
    factory = lambda settings: KefuService.load(settings, embedder=fake_embedder)  # noqa: E731
    with running(create_app(settings, service_factory=factory)) as client:
        error = assert_error(client.get("/readyz"), 503, "index_stale")
        assert "vectors.faiss" in error["message"] and "run `kefu build`" in error["message"]
        assert_error(client.post("/v1/reply", json={"message": "在吗"}), 503, "index_stale")


def test_stale_index_is_503_with_its_reasons(fake_index, fake_embedder):
    settings = fake_index.model_copy(update={"query_prefix": "q: "})  # not what the index was built with
    factory = lambda settings: KefuService.load(settings, embedder=fake_embedder)  # noqa: E731
    with running(create_app(settings, service_factory=factory)) as client:
        error = assert_error(client.get("/readyz"), 503, "index_stale")
        assert error["message"].endswith("run `kefu build` to rebuild it")
        assert error["details"] == ["prefixes {'query': 'query: ', 'example': 'query: ', 'passage': 'passage: '} "
                                    "vs {'query': 'q: ', 'example': 'query: ', 'passage': 'passage: '}"]
        assert assert_error(client.post("/v1/reply", json={"message": "在吗"}), 503, "index_stale") == error


def test_missing_model_is_503_saying_to_build(fake_index, tmp_path):
    settings = fake_index.model_copy(update={"model_dir": tmp_path / "no-model"})
    with running(create_app(settings)) as client:
        error = assert_error(client.get("/readyz"), 503, "model")
        assert error["message"] == f"the embedding model is not prepared in {tmp_path / 'no-model'}; run `kefu build`"
        assert_error(client.post("/v1/classify", json={"message": "在吗"}), 503, "model")


def test_unexpected_load_failure_is_logged_not_shown(fake_index, caplog):
    def broken(settings):
        raise RuntimeError("secret path /root/.cache")

    with running(create_app(fake_index, service_factory=broken)) as client:
        error = assert_error(client.get("/readyz"), 503, "internal")
        assert "secret" not in error["message"]
        assert_error(client.post("/v1/reply", json={"message": "在吗"}), 503, "internal")
    assert any(record.exc_info and "secret path" in str(record.exc_info[1]) for record in caplog.records)


def test_the_service_loads_once(fake_index, fake_service):
    calls = []

    def counting(settings):
        calls.append(settings)
        return fake_service

    with running(create_app(fake_index, service_factory=counting)) as client:
        for _ in range(3):
            client.post("/v1/reply", json={"message": "在吗"})
    assert calls == [fake_index]


# --- token -----------------------------------------------------------------------------------

V1 = [("/v1/reply", {"message": "能便宜点吗"}), ("/v1/classify", {"message": "能便宜点吗"}),
      ("/v1/search", {"query": "能便宜点吗"})]


@pytest.mark.parametrize(("path", "payload"), V1)
def test_token_required_when_set(make_client, path, payload):
    client = make_client(api_token="s3cret")
    missing = client.post(path, json=payload)
    error = assert_error(missing, 401, "unauthorized")
    assert "Authorization: Bearer" in error["message"]
    assert missing.headers["www-authenticate"] == "Bearer"
    for header in ["Bearer wrong", "Bearer s3cre", "Bearer s3cret2", "Basic czNjcmV0", "s3cret", "Bearer "]:
        assert_error(client.post(path, json=payload, headers={"Authorization": header}), 401, "unauthorized")
    for header in ["Bearer s3cret", "bearer s3cret"]:
        ok = client.post(path, json=payload, headers={"Authorization": header})
        assert ok.status_code == 200, ok.text


def test_non_ascii_token(make_client):
    # Header bytes arrive as latin-1 text; the token is compared as the UTF-8 bytes a client sends.
    client = make_client(api_token="令牌-s3cret")
    good = {"Authorization": b"Bearer " + "令牌-s3cret".encode()}
    bad = {"Authorization": b"Bearer " + "令牌-s3creT".encode()}
    assert client.post("/v1/reply", json={"message": "在吗"}, headers=good).status_code == 200
    assert_error(client.post("/v1/reply", json={"message": "在吗"}, headers=bad), 401, "unauthorized")


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/docs", "/openapi.json"])
def test_probes_and_docs_stay_open_with_a_token(make_client, path):
    client = make_client(api_token="s3cret")
    assert client.get(path).status_code == 200


def test_side_panel_stays_open_with_a_token(make_client, tmp_path):
    (tmp_path / "index.html").write_text("<!doctype html><title>客服回复助手</title>", encoding="utf-8")
    client = make_client(api_token="s3cret", web_dir=tmp_path)
    assert client.get("/").status_code == 200


def test_no_token_configured_means_open(client):
    assert client.post("/v1/reply", json={"message": "在吗"}).status_code == 200


# --- CORS ------------------------------------------------------------------------------------


def test_cors_only_when_configured(make_client):
    closed = make_client()
    preflight = {"Origin": "http://shop.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}
    assert "access-control-allow-origin" not in closed.options("/v1/reply", headers=preflight).headers
    assert "access-control-allow-origin" not in closed.post(
        "/v1/reply", json={"message": "在吗"}, headers={"Origin": "http://shop.example"}).headers

    opened = make_client(cors_origins=["http://shop.example"], api_token="s3cret")
    response = opened.options("/v1/reply", headers=preflight)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://shop.example"
    assert "authorization" in response.headers["access-control-allow-headers"].lower()
    # Errors carry the header too, so the side panel can show them.
    denied = opened.post("/v1/reply", json={"message": "在吗"}, headers={"Origin": "http://shop.example"})
    assert_error(denied, 401, "unauthorized")
    assert denied.headers["access-control-allow-origin"] == "http://shop.example"
    too_big = opened.post("/v1/reply", content=b"x" * (1024 * 1024 + 1),
                          headers={"Origin": "http://shop.example", "Content-Type": "application/json",
                                   "Authorization": "Bearer s3cret"})
    assert_error(too_big, 413, "body_too_large")
    assert too_big.headers["access-control-allow-origin"] == "http://shop.example"
    other = opened.options("/v1/reply", headers={**preflight, "Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in other.headers


# --- docs and side panel ---------------------------------------------------------------------


def test_openapi_has_chinese_examples(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    text = json.dumps(response.json(), ensure_ascii=False)
    assert "这件衣服170斤穿什么码" in text
    schema = response.json()
    assert set(schema["paths"]) == {"/v1/reply", "/v1/classify", "/v1/search", "/v1/inspect",
                                    "/v1/inspect/conversation", "/v1/evaluate", "/v1/feedback", "/v1/feedback/stats",
                                    "/v1/feedback/learnt",
                                    "/v1/vocabulary", "/v1/me", "/v1/shops/{shop}/templates",
                                    "/v1/shops/{shop}/templates/{template_id}", "/v1/shops/{shop}/profile",
                                    "/v1/shops/{shop}/profile/form",
                                    "/v1/shops/{shop}/audit", "/healthz", "/readyz"}
    reply_body = schema["components"]["schemas"]["ReplyIn"]
    assert reply_body["examples"][0]["message"] == "这件衣服170斤穿什么码"
    assert reply_body["properties"]["platform"]["anyOf"][0]["enum"] == list(PLATFORMS)
    # Documented errors use the one shape, not FastAPI's HTTPValidationError.
    assert schema["paths"]["/v1/reply"]["post"]["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorOut"}
    assert "HTTPValidationError" not in schema["components"]["schemas"]


def test_every_v1_answer_has_a_response_model(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            if path.startswith("/v1/") and "204" not in operation["responses"]:  # 204: no body by definition
                success = "201" if "201" in operation["responses"] else "200"
                schema = operation["responses"][success]["content"]["application/json"]["schema"]
                assert schema.get("$ref", "").startswith("#/components/schemas/"), (method, path, schema)


def test_vocabulary_lists_scenarios_and_platforms_with_chinese_names(client):
    from app.vocabulary import PLATFORM_NAMES_ZH, SCENARIO_NAMES_ZH, SCENARIOS

    response = client.get("/v1/vocabulary")
    assert response.status_code == 200
    body = VocabularyOut.model_validate(response.json())
    assert [(n.id, n.zh) for n in body.scenarios] == [(s, SCENARIO_NAMES_ZH[s]) for s in SCENARIOS]
    assert [(n.id, n.zh) for n in body.platforms] == [(p, PLATFORM_NAMES_ZH[p]) for p in PLATFORMS]
    assert body.default_platform == "taobao"


def test_openapi_says_whether_the_token_is_needed(make_client):
    def security(client):
        return client.get("/openapi.json").json()["paths"]["/v1/reply"]["post"]["security"]

    assert security(make_client()) == [{"HTTPBearer": []}, {}]  # {}: no token is fine too
    assert security(make_client(api_token="s3cret")) == [{"HTTPBearer": []}]


def test_docs_page_needs_no_cdn(client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert "/openapi.json" in response.text
    assert "cdn" not in response.text.lower() and "https://" not in response.text
    for asset in ("/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css"):
        assert asset in response.text
        served = client.get(asset)
        assert served.status_code == 200 and len(served.content) > 100_000
    assert client.get("/redoc").status_code == 404  # not offered: it would need a CDN too


def test_side_panel_served_as_utf8_html(make_client, tmp_path):
    page = "<!doctype html><meta charset=utf-8><title>客服回复助手</title>"
    (tmp_path / "index.html").write_text(page, encoding="utf-8")
    (tmp_path / "app.js").write_text("console.log('在吗')", encoding="utf-8")
    client = make_client(web_dir=tmp_path)
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text == page
    script = client.get("/static/app.js")
    assert script.status_code == 200
    assert script.text == "console.log('在吗')"
    assert_error(client.get("/static/missing.js"), 404, "not_found")


def test_the_real_side_panel_when_installed(client):
    index = REPO / "app" / "web" / "index.html"
    if not index.is_file():
        pytest.skip("app/web/index.html is not written yet")
    response = client.get("/")
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.content == index.read_bytes()


def test_without_a_side_panel(make_client, tmp_path):
    client = make_client(web_dir=tmp_path / "absent")
    assert_error(client.get("/"), 404, "not_found")
    assert_error(client.get("/static/app.js"), 404, "not_found")


# --- import hygiene --------------------------------------------------------------------------


def _imported_after(statement: str) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    return set(json.loads(out.stdout))


def test_core_never_imports_fastapi():
    modules = _imported_after("import app.service, app.cli")
    assert not {"fastapi", "starlette", "uvicorn"} & modules


def test_importing_the_api_does_no_work():
    modules = _imported_after("import app.api, app.api.server")
    assert not {"torch", "sentence_transformers", "uvicorn"} & modules


# --- the real model --------------------------------------------------------------------------


@pytest.mark.model
def test_api_and_cli_agree_on_the_real_model(real_settings, real_service):
    # Each CLI call loads the model (seconds), so two messages, one of them Traditional.
    messages = ["这件衣服170斤穿什么码", "質量太差了，我要退貨！"]
    env = {**os.environ, "KEFU_INDEX_DIR": str(real_settings.index_dir),
           "KEFU_MODEL_DIR": str(real_settings.model_dir), "KEFU_CORPUS_DIR": str(real_settings.corpus_dir)}
    env.pop("KEFU_API_TOKEN", None)
    with running(create_app(real_settings, service_factory=lambda settings: real_service)) as client:
        assert client.get("/readyz").json()["model"] != "fake-hashed-ngrams"
        for message in messages:
            api = client.post("/v1/reply", json={"message": message, "platform": "jd"})
            assert api.status_code == 200, api.text
            cli = subprocess.run([sys.executable, "-m", "app.cli", "reply", message, "--platform", "jd", "--json"],
                                 capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
            assert cli.returncode == 0, cli.stderr
            assert json.loads(cli.stdout) == {key: value for key, value in api.json().items() if key != "suggestion_id"}


# --- serving ---------------------------------------------------------------------------------


def test_app_from_environment_reads_kefu_settings(monkeypatch, fake_index):
    from app.api.server import app_from_environment

    monkeypatch.setenv("KEFU_INDEX_DIR", str(fake_index.index_dir))
    monkeypatch.setenv("KEFU_API_TOKEN", "from-env")
    monkeypatch.setenv("KEFU_CORS_ORIGINS", '["http://shop.example"]')
    settings = app_from_environment().state.settings
    assert settings.index_dir == fake_index.index_dir
    assert settings.api_token == "from-env"
    assert settings.cors_origins == ["http://shop.example"]


@pytest.mark.parametrize("workers", [1, 4])
def test_serve_runs_the_factory_under_uvicorn(monkeypatch, workers):
    import uvicorn

    from app.api import server

    calls = []
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)  # restored after the test
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append((app, options)))
    server.serve(host="0.0.0.0", port=8123, workers=workers)
    [(target, options)] = calls
    assert os.environ["MALLOC_ARENA_MAX"] == str(server.MALLOC_ARENAS)  # workers start with it
    assert target == "app.api.server:app_from_environment"
    assert options["factory"] is True
    assert (options["host"], options["port"], options["workers"]) == ("0.0.0.0", 8123, workers)
    assert options["log_config"]["loggers"]["app"]["handlers"] == ["default"]
    with pytest.raises(ValueError, match="workers must be 1 or more"):
        server.serve(workers=0)


def test_an_arena_limit_set_by_the_operator_wins(monkeypatch):
    from app.api import server

    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    server.limit_malloc_arenas()
    assert os.environ["MALLOC_ARENA_MAX"] == "4"
