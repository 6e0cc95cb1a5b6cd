"""The side panel in a real browser: Debian's Chromium, driven by Playwright, against a live kefu server."""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
SLOT = re.compile(r"【[^【】\n]{1,12}】")
XSS = "<img src=x onerror=alert(1)>"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium); "
        "Playwright's own browser downloads are never used",
    ),
]


@pytest.fixture(scope="module")
def base_url(live_url):
    return live_url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        yield chromium
        chromium.close()


class Panel:
    """One page of the panel, with the dialogs and script errors it raised."""

    def __init__(self, page, base_url: str) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.goto(base_url + "/")
        # The platform menu comes from GET /v1/vocabulary; wait until the page has it.
        page.wait_for_selector("[data-testid=platform] option", state="attached")

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def by(self, testid: str):
        return self.page.get_by_test_id(testid)

    def send(self, message: str):
        """Type a message and send it with Ctrl+Enter; the /v1/reply response, once the page shows it."""
        self.by("message").fill(message)
        with self.page.expect_response(is_reply) as info:
            self.by("message").press("Control+Enter")
        response = info.value
        response.finished()
        self.settled()
        return response

    def settled(self) -> None:
        # A locator expectation, not wait_for_function: the panel's CSP forbids eval, and
        # wait_for_function evals its predicate in the page on every poll after the first.
        from playwright.sync_api import expect

        expect(self.by("send")).to_be_enabled(timeout=10_000)

    def card_texts(self) -> list[str]:
        return self.by("reply-text").all_text_contents()


def is_reply(response) -> bool:
    return response.url.endswith("/v1/reply") and response.request.method == "POST"


@pytest.fixture
def panel(browser, base_url):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    view = Panel(page, base_url)
    yield view
    context.close()
    assert view.errors == [], "the page raised script errors"
    assert view.dialogs == [], "the page opened dialogs"


def test_size_message_gives_three_copyable_replies(panel):
    response = panel.send("这件衣服170斤穿什么码")
    assert response.status == 200
    data = response.json()
    assert json.loads(response.request.post_data) == {
        "message": "这件衣服170斤穿什么码", "platform": "taobao", "top_k": 3, "first_turn": True,
    }

    badge = panel.by("scenario")
    assert badge.is_visible()
    percent = round(data["scenario"]["confidence"] * 100)
    assert badge.text_content() == f"尺码 {percent}%"
    assert panel.by("reply-card").count() == 3
    assert panel.card_texts() == [reply["text"] for reply in data["replies"]]
    assert panel.by("needs-human").is_hidden()

    from playwright.sync_api import expect

    panel.by("copy").first.click()
    # The label changes once the clipboard write resolves, not at the click: wait for it (a
    # loaded CI machine once read the label before the write had finished).
    expect(panel.by("copy").first).to_have_text("已复制", timeout=5_000)
    assert panel.page.evaluate("navigator.clipboard.readText()") == data["replies"][0]["text"]


def test_copying_a_reply_records_feedback_once(panel, base_url):
    import httpx
    from playwright.sync_api import expect

    before = httpx.get(f"{base_url}/v1/feedback/stats").json()
    data = panel.send("能便宜点吗").json()
    second = data["replies"][1]
    with panel.page.expect_request(lambda request: request.url.endswith("/v1/feedback")) as sent:
        panel.by("copy").nth(1).click()
    event = json.loads(sent.value.post_data)["events"][0]
    assert event == {"action": "copied", "message": data["message"], "template_id": second["template_id"],
                     "suggestion_id": data["suggestion_id"], "rank": 2, "scenario": second["scenario"],
                     "score": second["score"], "confidence": second["confidence"], "platform": "taobao"}
    expect(panel.by("copy").nth(1)).to_have_text("已复制", timeout=5_000)
    panel.by("copy").nth(1).click()  # the same suggestion copied again is the same use
    expect(panel.by("copy").nth(1)).to_have_text("已复制", timeout=5_000)
    panel.page.wait_for_timeout(300)
    after = httpx.get(f"{base_url}/v1/feedback/stats").json()
    assert after["events"] == before["events"] + 1
    assert after["by_template"][second["template_id"]]["as_is"] >= 1


def test_a_suggestion_edited_in_the_check_box_is_recorded_with_what_is_sent(panel):
    from playwright.sync_api import expect

    data = panel.send("这件衣服170斤穿什么码").json()
    first = data["replies"][0]
    panel.by("edit").first.click()
    draft = panel.by("draft")
    expect(draft).to_have_value(first["text"])
    draft.press("End")
    draft.type("，有问题随时找我")
    with panel.page.expect_request(lambda request: request.url.endswith("/v1/feedback")) as sent:
        panel.by("copy-draft").click()
    event = json.loads(sent.value.post_data)["events"][0]
    assert event["action"] == "edited" and event["template_id"] == first["template_id"]
    assert event["sent_text"] == first["text"] + "，有问题随时找我"
    assert event["suggestion_id"] == data["suggestion_id"] and event["rank"] == 1
    expect(panel.by("copy-draft")).to_have_text("已复制", timeout=5_000)
    assert panel.page.evaluate("navigator.clipboard.readText()") == event["sent_text"]


def test_the_platform_menu_and_scenario_names_come_from_the_server(panel):
    from app.vocabulary import PLATFORM_NAMES_ZH, PLATFORMS

    options = panel.by("platform").locator("option")
    assert options.all_text_contents() == [PLATFORM_NAMES_ZH[name] for name in PLATFORMS]
    assert [options.nth(i).get_attribute("value") for i in range(options.count())] == list(PLATFORMS)
    assert panel.by("platform").input_value() == "taobao"  # the server's default platform


def test_switching_to_jd_rewords_without_qin(panel):
    panel.send("这件衣服170斤穿什么码")
    assert any("亲" in text for text in panel.card_texts())  # so the check below means something

    with panel.page.expect_response(is_reply) as info:
        panel.by("platform").select_option(label="京东")
    data = info.value.json()
    panel.settled()
    assert data["platform"] == "jd"
    texts = panel.card_texts()
    assert texts == [reply["text"] for reply in data["replies"]]
    assert len(texts) == 3
    assert not any("亲" in text for text in texts)


def test_first_turn_toggle_drops_the_greeting(panel):
    first = panel.send("这件衣服170斤穿什么码").json()
    assert first["first_turn"] is True

    with panel.page.expect_response(is_reply) as info:
        panel.by("first-turn").uncheck()
    later = info.value.json()
    panel.settled()
    assert later["first_turn"] is False
    assert panel.card_texts() == [reply["text"] for reply in later["replies"]]
    greeted = {reply["template_id"]: reply["text"] for reply in first["replies"]}
    for reply in later["replies"]:
        if reply["template_id"] in greeted:
            assert len(reply["text"]) < len(greeted[reply["template_id"]])


def test_slots_are_marked(panel):
    data = panel.send("能便宜点吗，用券吗").json()
    slots = [SLOT.findall(reply["text"]) for reply in data["replies"]]
    assert any(slots), "the message should reach a template with a slot to fill"
    cards = panel.by("reply-text")
    for index, expected in enumerate(slots):
        assert cards.nth(index).locator("mark").all_text_contents() == expected


def test_buyer_text_renders_literally(panel):
    response = panel.send(XSS)
    assert response.status == 200
    results = panel.by("results")
    assert panel.by("buyer-text").text_content() == XSS
    assert results.locator("img").count() == 0
    assert panel.page.locator("img").count() == 0
    assert panel.by("reply-card").count() == 3


def test_reply_text_renders_literally_and_needs_human_shows(panel):
    """Reply text is untrusted too; a crafted response also shows the needs-human and secondary states."""
    reply = {
        "text": "您好，<img src=x onerror=alert(2)><b>粗</b>【商品名】已发货，单号【快递单号】。",
        "template_id": "x.y.z", "scenario": "logistics", "topic": "x.y", "score": 0.5,
        "components": {}, "terms": ["发货"], "example": "",
        "source": {"doc": "002_d5e9aecbfc807c3b.txt", "heading": "4.3 发货", "label": "002 > 4.3 发货"},
        "missing_slots": ["product", "tracking_no"],
    }
    body = {
        "message": "嗯", "platform": "taobao", "first_turn": True, "needs_human": True, "replies": [reply],
        "scenario": {"label": "other", "confidence": 0.41, "scores": {}, "secondary": "complaint",
                     "needs_human": True, "evidence": {"nearest": []}},
    }
    panel.page.route("**/v1/reply", lambda route: route.fulfill(json=body))
    panel.send("嗯")

    assert panel.by("scenario").text_content() == "其他 41%"
    assert panel.by("secondary").text_content() == "另含：投诉"
    assert panel.by("needs-human").is_visible()
    assert "需要人工处理" in panel.by("needs-human").text_content()
    card = panel.by("reply-card")
    assert card.count() == 1
    assert panel.card_texts() == [reply["text"]]
    assert card.locator("mark").all_text_contents() == ["【商品名】", "【快递单号】"]
    assert card.locator("img, b").count() == 0
    assert "来源：4.3 发货" in card.text_content()


def test_loading_state_disables_the_button(panel):
    held = []
    panel.page.route("**/v1/reply", lambda route: held.append(route))
    panel.by("message").fill("在吗")
    panel.by("send").click()
    from playwright.sync_api import expect

    expect(panel.by("send")).to_be_disabled(timeout=10_000)
    assert panel.by("status").text_content() == "正在分析买家消息…"
    with panel.page.expect_response(is_reply):
        held[0].continue_()
    panel.settled()
    assert panel.by("status").text_content() == ""
    assert panel.by("reply-card").count() >= 1


def test_server_error_message_is_shown(panel):
    panel.send("这件衣服170斤穿什么码")
    response = panel.send("   \n  ")
    assert response.status == 422
    error = response.json()["error"]
    box = panel.by("error")
    assert box.is_visible()
    assert error["message"] in box.text_content()
    # Replies for the previous message must not stay on screen, copyable, under the error.
    assert panel.by("results").is_hidden()
    assert panel.by("send").is_enabled()

    panel.send("这件衣服170斤穿什么码")
    assert box.is_hidden()


def test_fits_a_360_px_side_panel(panel):
    ARTIFACTS.mkdir(exist_ok=True)
    panel.send("这件衣服170斤穿什么码")
    panel.page.screenshot(path=str(ARTIFACTS / "panel-wide.png"), full_page=True)

    panel.page.set_viewport_size({"width": 360, "height": 800})
    assert panel.page.evaluate("document.documentElement.scrollWidth") <= 360
    panel.page.screenshot(path=str(ARTIFACTS / "panel-360.png"), full_page=True)

    # One long unbroken paste (a link, an order number) must wrap, not widen the panel.
    panel.send("订单号" + "1234567890" * 20 + " https://example.com/" + "a" * 150)
    assert panel.page.evaluate("document.documentElement.scrollWidth") <= 360


def test_saved_token_is_sent_as_bearer(browser, base_url):
    context = browser.new_context()
    context.add_init_script("window.localStorage.setItem('kefuToken', 's3cret')")
    try:
        panel = Panel(context.new_page(), base_url)
        assert panel.by("token").input_value() == "s3cret"
        response = panel.send("在吗")
        assert response.request.headers["authorization"] == "Bearer s3cret"
        assert panel.errors == []
    finally:
        context.close()


def test_api_docs_render_without_the_internet(browser, base_url):
    """/docs draws every operation from local files; any request off this server is refused."""
    context = browser.new_context()
    outside: list[str] = []

    def only_local(route):
        if route.request.url.startswith(base_url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(base_url + "/docs")
    page.locator(".opblock-summary-path", has_text="/v1/reply").wait_for(timeout=15_000)
    paths = page.locator(".opblock-summary-path").all_text_contents()
    assert {"/v1/reply", "/v1/inspect", "/v1/evaluate"} <= {p.strip() for p in paths}
    assert outside == [] and errors == []
    context.close()


def test_an_abstention_shows_the_reason_one_holding_reply_and_the_handbook(panel, fake_service):
    import copy
    from dataclasses import replace

    from app.replies import ReplyRequest

    abstaining = copy.copy(fake_service)
    abstaining.reranker = replace(fake_service.reranker, abstain_below=1.0)
    body = abstaining.reply(ReplyRequest("帮我查下上门取件的快递员怎么还没来", platform="jd")).as_dict()
    panel.page.route("**/v1/reply", lambda route: route.fulfill(json=body))
    panel.send("帮我查下上门取件的快递员怎么还没来")

    assert panel.by("needs-human").is_visible()
    assert panel.by("abstention").text_content() == body["abstention"]
    card = panel.by("reply-card")
    assert card.count() == 1 and "holding" in (card.get_attribute("class") or "")
    assert "先回复买家" in card.text_content() and "核实" in panel.card_texts()[0]
    support = panel.by("support")
    assert support.is_visible()
    assert support.locator("li").count() == len(body["support"]) > 0


def test_the_live_check_marks_the_words_and_says_how_to_fix_them(panel):
    panel.by("platform").select_option("jd")
    panel.by("message").fill("能便宜点吗")
    with panel.page.expect_response(lambda r: r.url.endswith("/v1/inspect") and '"fast":true' in (r.request.post_data or "")):
        panel.by("draft").fill("亲，这已经是全网最低价了!!!")
    verdict = panel.by("verdict")
    expect_text(verdict, re.compile("不宜发送"))
    marks = panel.by("draft-marked").locator("mark")
    expect_text(marks.first, "亲")
    rules = {marks.nth(i).get_attribute("data-rule") for i in range(marks.count())}
    assert {"jd_qin", "ad_law", "shouting"} <= rules
    findings = panel.by("findings")
    assert "改法：京东店铺把“亲”改成“您”" in findings.text_content()

    # Fixed: fine to send; the full check (tone and relevance) follows the fast one once typing stops.
    with panel.page.expect_response(lambda r: r.url.endswith("/v1/inspect") and '"fast":false' in (r.request.post_data or "")):
        panel.by("draft").fill("您好，这款已经是活动价了，现在下单还能用店铺券，请您放心。")
    expect_text(verdict, re.compile("^可以发送"))
    assert "快速检查" not in verdict.text_content()


def test_the_live_check_owes_a_greeting_only_on_the_first_reply(panel):
    panel.by("message").fill("这件有黑色吗")
    panel.by("draft").fill("有的，黑色和白色都有现货，请您放心拍。")
    expect_text(panel.by("verdict"), re.compile("^可以发送"))
    panel.by("position").select_option("first")
    expect_text(panel.by("findings"), re.compile("建议.*问候"))
    assert panel.by("verdict").text_content().startswith("可以发送")  # a low finding is a suggestion


def expect_text(locator, pattern):
    from playwright.sync_api import expect

    expect(locator).to_have_text(pattern)


@contextmanager
def phone_page(browser):
    """A page on a phone-wide screen (the panel sits in a narrow side bar): on leaving, the page must have raised
    no script error and never scrolled sideways."""
    context = browser.new_context(viewport={"width": 360, "height": 800}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
    finally:
        context.close()
    assert errors == []


def test_the_stats_page_shows_acceptance_edits_and_gaps(browser, base_url):
    import httpx

    # The live server's feedback store is shared with other tests: five of each put these rows on top.
    marker = "能开增值税专票吗统计页"
    events = [{"action": "edited", "message": "170穿什么码", "template_id": "size.stats_page.only",
               "scenario": "size", "sent_text": "亲，170拍L码统计页", "suggestion_id": f"stats-page-edit-{i}"}
              for i in range(5)]
    events += [{"action": "ignored", "message": marker, "template_id": None, "scenario": "other",
                "suggestion_id": f"stats-page-gap-{i}"} for i in range(5)]
    assert httpx.post(f"{base_url}/v1/feedback", json={"events": events}).status_code == 201
    with phone_page(browser) as page:
        page.goto(f"{base_url}/")
        page.locator('[data-testid="stats-link"]').click()
        page.wait_for_url(f"{base_url}/stats")
        summary = page.locator('[data-testid="stats-summary"]')
        from playwright.sync_api import expect

        expect(summary).to_contain_text("采纳率")
        assert "size.stats_page.only" in page.locator('[data-testid="by-template"]').inner_text()
        assert "尺码" in page.locator('[data-testid="by-scenario"]').inner_text()  # names from /v1/vocabulary
        assert "亲，170拍L码统计页" in page.locator('[data-testid="edits"]').inner_text()
        assert marker in page.locator('[data-testid="gaps"]').inner_text()


def test_the_stats_page_accepts_a_learnt_question_into_the_library_and_dismisses_another(browser, base_url):
    import httpx
    from playwright.sync_api import expect

    template_id = "price.bargain.value"
    learn, drop = "统计页学到的问法：价钱上能不能再松一松", "统计页要忽略的问法：老板发个红包"
    events = [{"action": "copied", "message": message, "template_id": template_id, "rank": 2,
               "suggestion_id": f"learnt-page-{i}"} for i, message in enumerate([learn, learn, drop])]
    assert httpx.post(f"{base_url}/v1/feedback", json={"events": events}).status_code == 201
    with phone_page(browser) as page:
        page.goto(f"{base_url}/stats")
        rows = page.get_by_test_id("learnt-row")
        learnt_row, dropped_row = rows.filter(has_text=learn), rows.filter(has_text=drop)
        expect(learnt_row).to_have_count(1)
        assert template_id in learnt_row.inner_text()
        learnt_row.get_by_test_id("learnt-accept").click()
        expect(page.get_by_test_id("learnt-status")).to_contain_text("已把")
        expect(learnt_row).to_have_count(0)
        examples = httpx.get(f"{base_url}/v1/shops/default/templates/{template_id}").json()["template"]["examples"]
        assert examples[-1] == learn
        dropped_row.get_by_test_id("learnt-dismiss").click()
        expect(page.get_by_test_id("learnt-status")).to_contain_text("已忽略")
        page.reload()
        expect(page.get_by_test_id("learnt")).to_have_attribute("data-loaded", "true")
        assert learn not in page.get_by_test_id("learnt").inner_text()
        assert drop not in page.get_by_test_id("learnt").inner_text()


def test_the_library_editor_creates_edits_and_deletes_a_template_live(browser, base_url):
    """The editor page against the live server: a new template, an edit refused when someone else changed it
    first (If-Match), and the edited reply served by /v1/reply within seconds."""
    import time

    import httpx
    from playwright.sync_api import expect

    template_id = "other.editor_page.only"
    with phone_page(browser) as page:
        page.goto(f"{base_url}/")
        page.locator('[data-testid="library-link"]').click()
        page.wait_for_url(f"{base_url}/library")
        expect(page.locator('[data-testid="library-status"]')).to_contain_text("条话术")
        page.fill('[data-testid="field-id"]', template_id)
        page.select_option('[data-testid="field-scenario"]', "other")
        page.fill('[data-testid="field-topic"]', "other.editor_page")
        page.fill('[data-testid="field-reply"]', "编辑页新建的话术：我们的直播间每晚八点开播。")
        page.fill('[data-testid="field-examples"]', "你们直播间几点开播编辑页\n晚上有直播吗编辑页")
        page.click('[data-testid="save"]')
        expect(page.locator('[data-testid="editor"] h2, #editor-title')).to_contain_text(template_id)
        # Someone else changes it meanwhile: the page's save is refused and it loads their version.
        url = f"{base_url}/v1/shops/default/templates/{template_id}"
        current = httpx.get(url)
        other = current.json()["template"] | {"reply": "另一位编辑改的：直播间每晚七点开播。"}
        assert httpx.put(url, json=other, headers={"If-Match": current.headers["etag"]}).status_code == 200
        page.fill('[data-testid="field-reply"]', "这次修改会被拒绝。")
        page.click('[data-testid="save"]')
        expect(page.locator('[data-testid="library-error"]')).to_contain_text("刚被别人改过")
        expect(page.locator('[data-testid="field-reply"]')).to_have_value("另一位编辑改的：直播间每晚七点开播。")
        page.fill('[data-testid="field-reply"]', "编辑页改过的话术：直播间每晚九点开播。")
        page.click('[data-testid="save"]')
        expect(page.locator('[data-testid="library-notice"]')).to_contain_text(f"已保存 {template_id}（第 3 版）")
        deadline = time.monotonic() + 10
        while True:
            replies = httpx.post(f"{base_url}/v1/reply", json={"message": "你们直播间几点开播编辑页", "top_k": 5}).json()
            if any("每晚九点开播" in reply["text"] for reply in replies["replies"]):
                break
            assert time.monotonic() < deadline, "the edited template was not served within 10 s"
            time.sleep(0.1)
        page.click('[data-testid="remove"]')
        expect(page.locator('[data-testid="library-notice"]')).to_contain_text(f"已删除 {template_id}")
        assert httpx.get(url).status_code == 404


def test_the_profile_editor_saves_every_fact_it_read_and_names_a_bad_one(browser, base_url):
    """The shop profile's form: drawn from /profile/form, a bad value refused naming its field, a good save
    keeping every fact the form did not touch (charts, payment methods, postage), a stale save refused."""
    import httpx
    from playwright.sync_api import expect

    from app.shop import parse_shop_profile

    url = f"{base_url}/v1/shops/default/profile"
    before = httpx.get(url)
    original = before.json()["profile"]
    assert "couriers" not in original or "default" not in original["couriers"]  # the demo shop leaves it unset
    try:
        with phone_page(browser) as page:
            page.goto(f"{base_url}/library")
            expect(page.locator('[data-testid="profile-status"]')).to_contain_text("已填")
            courier = page.locator('[data-key="couriers.default"]')
            expect(courier).to_have_value("")
            expect(page.locator('[data-key="returns.no_reason_days"]')).to_have_value("7")
            expect(page.locator('[data-key="size_charts.clothing"]')).to_have_value(re.compile(r"(^|\n)M 160-165 50-57\n"))
            courier.fill("中通")
            page.locator('[data-key="dispatch.same_day_cutoff"]').fill("25:00")
            page.click('[data-testid="profile-save"]')
            expect(page.locator('[data-testid="profile-error"]')).to_contain_text("dispatch.same_day_cutoff")
            expect(page.locator('[data-key="dispatch.same_day_cutoff"]')).to_have_class("invalid")
            page.locator('[data-key="dispatch.same_day_cutoff"]').fill("16:00")
            page.click('[data-testid="profile-save"]')
            expect(page.locator('[data-testid="profile-notice"]')).to_contain_text("店铺资料已保存")
            saved = httpx.get(url).json()["profile"]
            expected = json.loads(json.dumps(original))
            expected.setdefault("couriers", {})["default"] = "中通"
            expected.setdefault("dispatch", {})["same_day_cutoff"] = "16:00"
            # Sizes written bare (90, 38) come back as labels ("90"): the same facts.
            assert parse_shop_profile(saved, "saved") == parse_shop_profile(expected, "expected")
            assert saved["size_charts"].keys() == original["size_charts"].keys()
            # Someone else saves meanwhile: the page's next save is refused and their version loaded.
            current = httpx.get(url)
            theirs = current.json()["profile"] | {"member_prices": "会员享95折"}
            assert httpx.put(url, json=theirs, headers={"If-Match": current.headers["etag"]}).status_code == 200
            page.locator('[data-key="couriers.default"]').fill("圆通")
            page.click('[data-testid="profile-save"]')
            expect(page.locator('[data-testid="profile-error"]')).to_contain_text("刚被别人改过")
            expect(page.locator('[data-key="member_prices"]')).to_have_value("会员享95折")
            expect(page.locator('[data-key="couriers.default"]')).to_have_value("中通")
    finally:
        latest = httpx.get(url)
        restored = httpx.put(url, json=original, headers={"If-Match": latest.headers["etag"]})
        assert restored.status_code == 200, restored.text
