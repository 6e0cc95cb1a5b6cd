"""kefu import: a shop's quick phrases (千牛/咚咚 exports, kefu YAML) into its script library."""

from __future__ import annotations

import io
import json
import os

import pytest
import yaml

from app.corpus import QUICK_PHRASES, load_templates
from app.errors import InputError
from app.phrases import import_file, read_phrases
from tests.test_cli import run_kefu

EXPORT = """分组名称,快捷编码,短语内容
物流问题,/fh,亲，付款后48小时内发货，发货后物流信息会同步到订单里哦
尺码推荐,/cm,亲，麻烦告诉我您的身高体重，我帮您推荐合适的尺码
,,
售后,/th,"亲，收到商品不满意可以7天无理由退货，
退货运费{returns.postage.no_reason}"
,/x,
常用,/fh,重复的快捷编码
问候,hi,您好，在的，请问有什么可以帮您？
其他,/bad,含有未知占位{voucher}的话术
"""


def _write(tmp_path, name: str, text: str, encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _never_called(texts):
    raise AssertionError("the groups name every scenario here")


def test_a_workbench_export_is_imported_with_bad_rows_named_by_their_line(mini_corpus, tmp_path):
    path = _write(tmp_path, "快捷短语.csv", EXPORT, "utf-8-sig")
    report = import_file(mini_corpus, path, classify=lambda texts: ["other"] * len(texts))
    assert report.added == ["qp.fh", "qp.cm", "qp.th", "qp.hi"] and report.written
    # The quoted phrase spans lines 5-6; the rows after it keep their true line numbers.
    assert [(r.line, r.reason.split(";")[0]) for r in report.rejected] == [
        (7, "no phrase in the content column"),
        (8, "shortcut /fh is already used on line 2"),
        (10, "{voucher} reads as a slot kefu does not know"),
    ]
    library = {t.id: t for t in load_templates(mini_corpus)}
    assert library["qp.fh"].scenario == "logistics" and library["qp.cm"].scenario == "size"
    assert library["qp.th"].scenario == "complaint" and "\n" in library["qp.th"].reply
    assert library["qp.hi"].scenario == "other"  # 问候 names no scenario: the classifier said other
    assert library["qp.fh"].examples == ("物流问题",)  # the group, not the code /fh
    assert library["qp.hi"].examples == ("问候",)
    assert library["qp.fh"].source.kind == "imported" and library["qp.fh"].source.imported == "快捷短语.csv:2"
    assert len(library) == 2 + 4  # the team's two templates stay


def test_a_phrase_with_neither_group_nor_words_in_its_shortcut_is_its_own_example(mini_corpus, tmp_path):
    import_file(mini_corpus, _write(tmp_path, "a.csv", "分组,快捷编码,内容\n,/1,您好，在的，请问有什么可以帮您？\n"),
                classify=lambda texts: ["other"] * len(texts))
    phrase = next(t for t in load_templates(mini_corpus) if t.source.kind == "imported")
    assert phrase.id == "qp.1" and phrase.examples == ("您好，在的，请问有什么可以帮您？",)


def test_gbk_exports_and_tab_separated_files_read_too(tmp_path):
    text = "分组\t快捷键\t内容\n物流\t/fh\t付款后48小时内发货\n"
    phrases, rejected = read_phrases(text.encode("gb18030"), "export.txt")
    assert rejected == [] and [(p.line, p.group, p.shortcut, p.content) for p in phrases] == [
        (2, "物流", "/fh", "付款后48小时内发货")]


def test_xlsx_exports_import(mini_corpus, tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append([None])  # a blank row above the header, as some exports have
    sheet.append(["分组", "快捷编码", "短语内容"])
    sheet.append(["价格优惠", "/yh", "现在店铺有满199减20的优惠券，结算时自动抵扣"])
    sheet.append(["价格优惠", "/kong", None])
    buffer = io.BytesIO()
    book.save(buffer)
    path = tmp_path / "phrases.xlsx"
    path.write_bytes(buffer.getvalue())
    report = import_file(mini_corpus, path, classify=_never_called)
    assert report.added == ["qp.yh"] and [(r.line, r.reason) for r in report.rejected] == [
        (4, "no phrase in the content column")]
    assert {t.id: t.scenario for t in load_templates(mini_corpus)}["qp.yh"] == "price"


def test_importing_again_updates_what_changed_and_a_dry_run_writes_nothing(mini_corpus, tmp_path):
    first = _write(tmp_path, "a.csv", "分组,快捷编码,内容\n物流,/fh,48小时内发货\n尺码,/cm,告诉我身高体重\n")
    import_file(mini_corpus, first, classify=_never_called)
    library = mini_corpus / QUICK_PHRASES
    before = library.read_bytes()
    # Rows reordered (the line moves) and one phrase edited.
    second = _write(tmp_path, "a.csv", "分组,快捷编码,内容\n尺码,/cm,告诉我身高体重\n物流,/fh,24小时内发货\n")
    dry = import_file(mini_corpus, second, classify=_never_called, dry_run=True)
    assert (dry.updated, dry.unchanged, dry.written) == (["qp.fh"], ["qp.cm"], False)
    assert library.read_bytes() == before
    report = import_file(mini_corpus, second, classify=_never_called)
    assert (report.added, report.updated, report.unchanged) == ([], ["qp.fh"], ["qp.cm"])
    assert {t.id: t.reply for t in load_templates(mini_corpus)}["qp.fh"] == "24小时内发货"


def test_a_failed_write_leaves_the_library_as_it_was(mini_corpus, tmp_path, monkeypatch):
    import_file(mini_corpus, _write(tmp_path, "a.csv", "分组,快捷编码,内容\n物流,/fh,48小时内发货\n"),
                classify=_never_called)
    before = (mini_corpus / QUICK_PHRASES).read_bytes()

    def full_disk(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError):
        import_file(mini_corpus, _write(tmp_path, "b.csv", "分组,快捷编码,内容\n物流,/fh,改过的\n尺码,/cm,新的\n"),
                    classify=_never_called)
    assert (mini_corpus / QUICK_PHRASES).read_bytes() == before
    assert [p.name for p in mini_corpus.glob(".quick_phrases.yaml.*")] == []  # no staging file left behind


def test_a_file_without_a_phrase_column_is_refused_whole(mini_corpus, tmp_path):
    with pytest.raises(InputError, match="line 1: no phrase column; the header has 名字, 电话"):
        import_file(mini_corpus, _write(tmp_path, "a.csv", "名字,电话\n小美,123\n"), classify=None)
    assert not (mini_corpus / QUICK_PHRASES).exists()


def test_kefu_yaml_imports_with_bad_entries_named_by_their_line(mini_corpus, tmp_path):
    text = """- id: other.greeting.shop
  scenario: other
  topic: other.greeting
  reply: 您好，欢迎光临，有什么可以帮您？
  examples: [在吗]
  platforms: [taobao, jd]
  source: team
- id: other.bad.scenario
  scenario: discount
  topic: other.bad
  reply: 不合格
  examples: [x]
  platforms: [taobao]
  source: team
"""
    report = import_file(mini_corpus, _write(tmp_path, "mine.yaml", text), classify=None)
    assert report.added == ["other.greeting.shop"]
    assert [r.line for r in report.rejected] == [8] and "scenario" in report.rejected[0].reason
    assert "other.greeting.shop" in {t.id for t in load_templates(mini_corpus)}


def test_an_imported_phrase_is_found_by_its_words_once_indexed(mini_corpus, tmp_path, fake_embedder):
    from app.build import build_index
    from app.config import Settings
    from app.service import KefuService

    import_file(mini_corpus, _write(tmp_path, "a.csv", "分组,快捷编码,内容\n物流,/fh,付款后48小时内发货，顺丰包邮\n"),
                classify=_never_called)
    settings = Settings(corpus_dir=mini_corpus, index_dir=tmp_path / "index")
    build_index(settings, embedder=fake_embedder)
    service = KefuService.load(settings, embedder=fake_embedder)
    found = service.search("付款后多久发货 顺丰吗", top_k=3)
    assert "qp.fh" in [hit.template.id for hit in found.templates]


def test_the_cli_reports_and_exits_0_and_refuses_an_unreadable_file_with_1(mini_corpus, tmp_path):
    from app.config import Settings

    settings = Settings(corpus_dir=mini_corpus, index_dir=tmp_path / "no-index")
    path = _write(tmp_path, "export.csv", EXPORT)
    result = run_kefu("import", str(path), "--json", "--platforms", "taobao,tmall", settings=settings)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["added"] == ["qp.fh", "qp.cm", "qp.th", "qp.hi"] and len(report["rejected"]) == 3
    assert "group words only" in report["classified_by"]  # no index: nothing to classify with
    entries = yaml.safe_load((mini_corpus / QUICK_PHRASES).read_text(encoding="utf-8"))
    assert {tuple(entry["platforms"]) for entry in entries} == {("taobao", "tmall")}
    missing = run_kefu("import", str(tmp_path / "nope.csv"), settings=settings)
    assert missing.returncode == 1 and "cannot read" in missing.stderr
