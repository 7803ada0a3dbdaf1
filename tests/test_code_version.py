"""Rule code versions derived from the imports (emofusion.code_version): a tiny package in tmp with
every import form, then the real scripts and rules. The rerun check on a real workflow run is in
test_workflow.py (test_library_edit_reruns_exactly_the_rules_that_reach_it)."""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest
from emofusion.code_version import code_versions, modules_reached

REPO = Path(__file__).resolve().parents[1]

# A package named like the library (the package name is the folder's name). `glue` imports each
# stage inside the function that serves it, as a library module may import what one function needs
# inside it (emofusion.fusion.inputs.labels_from_cache imports data.cache).
FILES = {
    "__init__.py": "TARGETS = ('a', 'b')\n",
    "glue.py": (
        "import json\n\n"
        "def serve_a():\n    from .stage_a import run\n    return run()\n\n"
        "def serve_b():\n    from .stage_b import run\n    return _helper() + run()\n\n"
        "def _helper():\n    from . import util\n    return util.X\n"
    ),
    "stage_a.py": "from . import TARGETS\nfrom .leaf import f\n\ndef run():\n    return f(TARGETS)\n",
    "stage_b.py": "import emofusion.sub.inner\n\ndef run():\n    return emofusion.sub.inner.h()\n",
    "leaf.py": "def f(x):\n    return x\n",
    "util.py": "X = 1\n",
    "other.py": "def g():\n    return 2\n",
    "sub/__init__.py": "Y = 3\n",
    "sub/inner.py": "from ..other import g\n\ndef h():\n    return g()\n",
    "unused.py": "def u():\n    return 0\n",
}


def _write_package(tmp_path: Path, files: dict[str, str], scripts: dict[str, str]) -> tuple[Path, Path]:
    """The package ``files`` as ``tmp_path/emofusion``, and ``scripts`` (``{stem: glue function}``)."""
    lib = tmp_path / "emofusion"
    for rel, text in files.items():
        (lib / rel).parent.mkdir(parents=True, exist_ok=True)
        (lib / rel).write_text(text)
    folder = tmp_path / "scripts"
    folder.mkdir()
    for stem, func in scripts.items():
        (folder / f"{stem}.py").write_text(f"from emofusion.glue import {func}\n\n{func}()\n")
    return folder, lib


@pytest.fixture
def package(tmp_path) -> tuple[Path, Path]:
    return _write_package(tmp_path, FILES, {"rule_a": "serve_a", "rule_b": "serve_b"})


def _names(paths: list[Path], lib: Path) -> set[str]:
    return {p.relative_to(lib).as_posix() for p in paths}


def test_imports_are_followed_by_name_through_every_form(package):
    scripts, lib = package
    a = _names(modules_reached(scripts / "rule_a.py", lib), lib)
    b = _names(modules_reached(scripts / "rule_b.py", lib), lib)
    # `from .leaf import f`, `from . import TARGETS` (the package __init__), lazy imports in the function
    assert a == {"__init__.py", "glue.py", "stage_a.py", "leaf.py"}
    # `import emofusion.sub.inner` (the sub-package's __init__ too), `from ..other import g`,
    # `from . import util` inside a helper that the called function names
    assert b == {"__init__.py", "glue.py", "stage_b.py", "sub/__init__.py", "sub/inner.py", "other.py", "util.py"}


@pytest.mark.parametrize(
    ("edited", "changes"),
    [("leaf.py", {"rule_a"}), ("sub/__init__.py", {"rule_b"}), ("other.py", {"rule_b"}),
     ("glue.py", {"rule_a", "rule_b"}), ("__init__.py", {"rule_a", "rule_b"}), ("unused.py", set())],
)
def test_an_edit_changes_the_versions_of_the_scripts_that_reach_it(package, edited, changes):
    scripts, lib = package
    before = code_versions(scripts, lib)
    with (lib / edited).open("a") as fh:
        fh.write("# an edit\n")
    after = code_versions(scripts, lib)
    assert {s for s in before if before[s] != after[s]} == changes


def test_editing_a_script_changes_its_own_version_only(package):
    scripts, lib = package
    before = code_versions(scripts, lib)
    with (scripts / "rule_a.py").open("a") as fh:
        fh.write("# an edit\n")
    after = code_versions(scripts, lib)
    assert before["rule_a"] != after["rule_a"] and before["rule_b"] == after["rule_b"]


# A stage as a sub-package, as the library's data/, training/, fusion/ and results/ are: relative
# imports up (`from .. import TARGETS`, `from ..scoring.metric import score`), beside
# (`from .solver import solve`) and of the sub-package's own `__init__` (`from . import K`).
STAGE_PACKAGE = {
    "__init__.py": "TARGETS = ('a', 'b')\n",
    "glue.py": "def serve():\n    from .stage.chain import run\n    return run()\n",
    "stage/__init__.py": '"""A stage."""\n\nK = 5\n',
    "stage/chain.py": (
        "from .. import TARGETS\nfrom ..scoring.metric import score\nfrom . import K\nfrom .solver import solve\n\n"
        "def run():\n    return score(solve(K, TARGETS))\n"
    ),
    "stage/solver.py": "def solve(k, t):\n    return k\n",
    "stage/unused.py": "def u():\n    return 0\n",
    "scoring/__init__.py": "",
    "scoring/metric.py": "def score(x):\n    return x\n",
    "other/__init__.py": "",
    "other/thing.py": "from ..scoring.metric import score\n",
}


def test_relative_imports_inside_sub_packages_are_followed(tmp_path):
    scripts, lib = _write_package(tmp_path, STAGE_PACKAGE, {"rule": "serve"})
    reached = _names(modules_reached(scripts / "rule.py", lib), lib)
    assert reached == {"__init__.py", "glue.py", "stage/__init__.py", "stage/chain.py", "stage/solver.py",
                       "scoring/__init__.py", "scoring/metric.py"}
    for edited, changes in [("stage/solver.py", True), ("scoring/metric.py", True), ("stage/__init__.py", True),
                            ("stage/unused.py", False), ("other/thing.py", False)]:
        before = code_versions(scripts, lib)["rule"]
        with (lib / edited).open("a") as fh:
            fh.write("# an edit\n")
        assert (code_versions(scripts, lib)["rule"] != before) == changes, edited


SYNTH_MODULES = {"data/synth.py", "data/synth_generator.py", "data/synth_planted.py", "data/synth_arrays.py"}


def test_real_scripts_reach_what_they_use_and_no_other_stage():
    lib = REPO / "workflow" / "emofusion"
    scripts = REPO / "workflow" / "scripts"
    train = _names(modules_reached(scripts / "train.py", lib), lib)
    fuse = _names(modules_reached(scripts / "fuse_part.py", lib), lib)
    # the training job's device claim and MLflow tracking count (a hand-kept list once left them out)
    assert {"training/trainer.py", "training/task.py", "training/model.py", "training/loss.py",
            "training/devices.py", "training/__init__.py", "training/job.py", "tracking.py", "joblog.py",
            "__init__.py"} <= train
    assert not {"fusion/fit.py", "fusion/design.py", "fusion/solver.py", "results/tables.py", "results/figures_fusion.py",
                "results/figures_runs.py", "results/plotting.py", "results/markdown.py", "results/weight_search.py",
                *SYNTH_MODULES} & train
    assert {"fusion/__init__.py", "fusion/fit.py", "fusion/design.py", "fusion/solver.py", "results/metrics.py",
            "formats.py", "joblog.py"} <= fuse
    assert not {"training/trainer.py", "training/model.py", "training/task.py", *SYNTH_MODULES} & fuse


def test_every_rule_with_a_script_carries_the_code_version_of_that_script():
    versions = code_versions(REPO / "workflow" / "scripts", REPO / "workflow" / "emofusion")
    seen = set()
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"\n(?=(?:rule|checkpoint) )", smk.read_text()):
            script = re.search(r'script:\s*\n\s*"\.\./scripts/(\w+)\.py"', block)
            if not script:
                continue
            rule = block.split(":")[0]
            code = re.findall(r'code=CODE\["(\w+)"\]', block)
            assert code == [script.group(1)], f"{smk.name}: {rule}: code={code}, script {script.group(1)}.py"
            seen.add(script.group(1))
    assert seen == set(versions)  # every script is some rule's, and has a version


# The report's rules by what they write; the rules that train or fuse must never re-run for a report edit.
TRAINING = {"train", "ablation_train", "ablation_search_train"}
FUSION = {"fuse_part", "fuse_stage", "fusion_summary"}
TABLES = {"report_table2", "report_table3", "report_comparisons"}
FIGURES = {"report_fig3", "report_runs_overview", "report_learning_curves", "report_fusion_correlation",
           "report_traces", "report_de_vs_hu"}
FUSION_FIGURES = {"report_fig3", "report_fusion_correlation", "report_traces", "report_de_vs_hu"}
MARKDOWN = TABLES | {"report_weight_search", "report_tables"}  # every rule that renders a markdown/TSV table


def _defining_module(lib: Path, name: str) -> Path:
    """The one library file whose top level defines the function or class ``name``."""
    hits = [f for f in sorted(lib.rglob("*.py"))
            if any(isinstance(n, ast.FunctionDef | ast.ClassDef) and n.name == name
                   for n in ast.parse(f.read_text()).body)]
    assert len(hits) == 1, (name, hits)
    return hits[0]


def _edit(tmp_path: Path, module_of, need=()) -> tuple[dict, set]:
    """The real scripts and library copied into ``tmp_path``; a line appended to the module
    ``module_of(lib, scripts)`` names. Returns (the scripts' code versions before the edit, the
    scripts whose code version it changed); ``need``: scripts that must be there."""
    scripts = Path(shutil.copytree(REPO / "workflow" / "scripts", tmp_path / "scripts"))
    lib = Path(shutil.copytree(REPO / "workflow" / "emofusion", tmp_path / "emofusion",
                               ignore=shutil.ignore_patterns("__pycache__")))
    before = code_versions(scripts, lib)
    assert set(need) <= set(before)
    with module_of(lib, scripts).open("a") as fh:
        fh.write("# an edit\n")
    after = code_versions(scripts, lib)
    return before, {s for s in before if before[s] != after[s]}


@pytest.mark.parametrize(
    ("function", "changes"),
    [("fig3_figure", FUSION_FIGURES),  # a figure: its own rules only, no table, no training
     ("learning_curves_figure", {"report_learning_curves", "report_runs_overview"}),
     ("write_table3", TABLES),  # a table: no figure, no training
     ("md_to_html", MARKDOWN),  # the markdown renderer: only the rules that render markdown
     ("sample_search_weights", {"report_weight_search"}),  # read at parse time; the search's table
     ("results_block", set())],  # the README block: no rule
)
def test_editing_one_report_concept_reruns_only_the_rules_that_use_it(tmp_path, function, changes):
    """The real scripts and library, copied; the module defining ``function`` is edited. A layout
    that kept these concepts in one module (one results/report.py, which the search's training
    reached through its weights file) re-runs every report rule and the training for any of them."""
    before, changed = _edit(tmp_path, lambda lib, scripts: _defining_module(lib, function))
    assert not changed & (TRAINING | FUSION)
    if function in ("fig3_figure", "learning_curves_figure"):
        assert not changed & TABLES
    if function == "write_table3":
        assert not changed & FIGURES
    assert changed == changes


# The fusion's concepts by the function that defines each module, and the scripts an edit of it
# must re-run (their rules): the fit only the job that fits, a stage's join only the job that joins,
# the summary only its own rule, no report rule and no training for any of them.
REPORTS = {"report_table2", "report_table3", "report_comparisons", "report_tables", "report_weight_search"} | FIGURES


@pytest.mark.parametrize(
    ("function", "changes"),
    [("fit_part", {"fuse_part"}),  # fusion/fit.py
     ("context_design", {"fuse_part", "system_bundle"}),  # fusion/design.py: the bundle re-applies the chain
     ("gather_stage", {"fuse_stage"}),  # fusion/stage.py
     ("log_stage_run", {"fuse_stage"}),  # fusion/mlflow_run.py
     ("write_summary", {"fusion_summary"}),  # fusion/summary.py
     ("run_chains", set())],  # fusion/scheduler.py: emofusion fuse only, no rule
)
def test_editing_one_fusion_concept_reruns_only_the_rules_that_use_it(tmp_path, function, changes):
    """The real scripts and library, copied; the module defining ``function`` is edited. The old
    layout (one fusion/stages.py holding all of these) re-ran fuse_part, fuse_stage, fusion_summary
    and the system bundle for an edit of any of them."""
    before, changed = _edit(tmp_path, lambda lib, scripts: _defining_module(lib, function),
                            need=REPORTS | TRAINING | FUSION)
    assert not changed & (TRAINING | REPORTS)
    assert changed == changes


# The data stage's rules by what they reach: every cache builder (synth_corpus builds them with --cache-only).
CACHE_JOBS = {"cache_features", "cache_labels", "synth_corpus"}
LABEL_READERS = FUSION | TABLES | FUSION_FIGURES  # read labels.npz (data.cache) and nothing else of data/


@pytest.mark.parametrize(
    ("function", "changes"),
    [("read_aligned", CACHE_JOBS | {"system_bundle"}),  # alignment: also the bundle's Test-recording caches
     ("normalise_train_only", CACHE_JOBS),  # normalisation
     ("build_feature_cache", CACHE_JOBS),  # building the caches
     ("check_recording_sets", CACHE_JOBS | {"check_inputs"}),  # which recordings every set holds
     ("get_feature_set", CACHE_JOBS | TRAINING | {"check_inputs", "system_bundle", "report_runs_overview"}),  # registry
     ("load_label_cache", CACHE_JOBS | TRAINING | LABEL_READERS | {"system_bundle"})],  # the .npz format
)
def test_editing_one_data_concept_reruns_only_the_rules_that_use_it(tmp_path, function, changes):
    """The rules whose own code changes for an edit of one data/ module (a re-run cache job rewrites
    its cache, and what reads it follows, docs/pipeline.md). The old layout kept these concepts in
    one data/features.py: any edit of it changed the code of every rule reaching any of it, the
    input check, the training, the fusion and the report's label readers included."""
    before, changed = _edit(tmp_path, lambda lib, scripts: _defining_module(lib, function),
                            need=CACHE_JOBS | {"check_inputs", "system_bundle"} | TRAINING | FUSION | REPORTS)
    if function in ("read_aligned", "normalise_train_only", "build_feature_cache", "check_recording_sets"):
        assert not changed & (TRAINING | FUSION | REPORTS)  # nothing past the caches' code
    if function == "load_label_cache":
        assert "check_inputs" not in changed  # the input check reads no cache
    if function == "get_feature_set":
        assert not changed & (FUSION | TABLES)
    assert changed == changes


@pytest.mark.parametrize(
    ("function", "changes"),
    [("set_specs", {"synth_corpus"}),  # data/synth_planted.py: the planted structure
     ("CorpusGenerator", {"synth_corpus"}),  # data/synth_generator.py
     ("generate_corpus", {"synth_corpus"}),  # data/synth.py: the corpus on disk (and its caches)
     ("synthesize", set())],  # data/synth_arrays.py: the arrays in memory, for tests only: no rule
)
def test_editing_one_synth_concept_reruns_only_the_rules_that_use_it(tmp_path, function, changes):
    """The real scripts and library, copied; the module defining ``function`` is edited. The old
    layout kept the generated corpus in one data/synth.py, so an edit of the in-memory arrays that
    only tests use re-ran the corpus job (and everything downstream of the corpus it rewrites)."""
    before, changed = _edit(tmp_path, lambda lib, scripts: _defining_module(lib, function), need={"synth_corpus"})
    assert changed == changes


# The video stage's rules: one face LLD job per recording, then the sets derived from its LLD files.
FACE_LLD_JOB = {"extract_face"}
FACE_SET_JOBS = {"face_functionals", "face_codebook", "face_bags"}


@pytest.mark.parametrize(
    ("function", "changes"),
    [("FaceTracker", FACE_LLD_JOB | {"system_bundle"}),  # face_tracker: decoding, tracking, the LLD file
     ("read_video_info", FACE_LLD_JOB | {"system_bundle"}),  # video: the root, opening a video, frame times
     ("write_face_functionals", FACE_SET_JOBS | {"system_bundle"}),  # face_windows: functionals and bags
     ("check_video_config", {"system_bundle"})],  # video_config: the sets' keys, folders and config check
)
def test_editing_one_video_concept_reruns_only_the_rules_that_use_it(tmp_path, function, changes):
    """The real scripts and library, copied; the module defining ``function`` is edited (the system
    bundle reaches every one: predicting extracts the face sets from a root's videos). The derived
    sets' jobs re-run for a tracker edit through their LLD input files, not through their own code;
    the old layout (one data/video.py) changed the code of all four face jobs for any edit of it."""
    before, changed = _edit(tmp_path, lambda lib, scripts: _defining_module(lib, function),
                            need=FACE_LLD_JOB | FACE_SET_JOBS | {"system_bundle"})
    if function == "FaceTracker":
        assert not changed & FACE_SET_JOBS  # the derived sets' own code does not change
    if function == "write_face_functionals":
        assert not changed & FACE_LLD_JOB  # the LLD job does not re-run
    assert changed == changes


# What every script shares: the log routing (joblog, with errors and the package __init__ it
# imports) and the atomic writes every job makes (io); no forwarding module between the scripts
# and the library.
SHARED_BY_EVERY_SCRIPT = {"__init__.py", "joblog.py", "errors.py", "io.py"}


def test_no_module_but_the_log_routing_and_the_atomic_writes_is_reached_by_every_script():
    """Each script calls its stage's job function in the stage's own module. The old layout put a
    forwarding module between them (emofusion/pipeline.py, one function per script), which every
    script reached: any edit of it changed every rule's code version and re-ran every job, the
    trainings included."""
    lib = REPO / "workflow" / "emofusion"
    reached = {s.stem: _names(modules_reached(s, lib), lib)
               for s in sorted((REPO / "workflow" / "scripts").glob("*.py"))}
    assert set.intersection(*reached.values()) == SHARED_BY_EVERY_SCRIPT
    assert all("joblog.py" in r for r in reached.values())  # every script routes its log the one way


def _job_function(script: Path) -> str:
    """The name of the library function a script's job calls: the first call, inside its ``with
    log_to(...)`` block, of a name the script imports from the package."""
    tree = ast.parse(script.read_text())
    imported = {a.asname or a.name for n in tree.body if isinstance(n, ast.ImportFrom)
                and (n.module or "").split(".")[0] == "emofusion" for a in n.names}
    (block,) = [n for n in tree.body if isinstance(n, ast.With)]
    return next(c.func.id for s in block.body for c in ast.walk(s)
                if isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id in imported)


@pytest.mark.parametrize(
    ("script", "changes"),
    [("train", TRAINING),  # the training job: the three training rules, nothing else
     ("ablation_train", TRAINING),
     ("fuse_part", {"fuse_part"}),  # fitting one part of a fusion stage
     ("fuse_stage", {"fuse_stage"}),  # joining a stage's parts
     ("fusion_summary", {"fusion_summary"}),
     ("cache_features", CACHE_JOBS),
     ("report_table3", TABLES),
     ("system_bundle", {"system_bundle"})],
)
def test_editing_one_rules_job_function_reruns_only_the_rules_of_its_stage(tmp_path, script, changes):
    """The real scripts and library, copied; the module defining the function a script's job calls
    is edited. In the old layout that function was a forwarder in pipeline.py, which every script
    reached: editing the fusion's fuse_part (say) re-ran every rule, the 33 trainings included."""
    before, changed = _edit(
        tmp_path, lambda lib, scripts: _defining_module(lib, _job_function(scripts / f"{script}.py")))
    assert changed == changes
    assert changed <= TRAINING or not changed & TRAINING  # a training edit re-runs no other rule, and the reverse


def test_editing_the_log_routing_reruns_every_rule(tmp_path):
    """joblog is the one module meant to be shared: every rule's log goes through it."""
    before, changed = _edit(tmp_path, lambda lib, scripts: lib / "joblog.py")
    assert changed == set(before)


@pytest.mark.parametrize(
    ("function", "changes"),
    [("FusionSpec", {"fuse_part", "fuse_stage", "system_bundle"}),  # fusion_spec.py: the fusion block's spec
     ("TrainSpec", TRAINING | {"system_bundle"}),  # spec.py: the train block's spec (the bundle loads checkpoints)
     # data_spec.py: the data block's spec and the library's data defaults (the bundle aligns new recordings)
     ("DataSpec", CACHE_JOBS | {"check_inputs", "system_bundle"}),
     ("TrackingSpec", {"init_tracking"}),  # tracking_spec.py: the tracked jobs read tracking.json, not the spec
     ("check_block", TRAINING | CACHE_JOBS | {"check_inputs", "init_tracking", "fuse_part", "fuse_stage",
                                             "system_bundle"})],  # schema.py: every spec's check
)
def test_editing_one_spec_reruns_only_the_rules_of_its_block(tmp_path, function, changes):
    """The real scripts and library, copied; the module defining a spec is edited. With both specs in
    one spec.py, an edit of the fusion settings re-ran the 33 trainings and an edit of the training
    settings re-ran every fusion part; a data or tracking setting re-runs neither."""
    before, changed = _edit(tmp_path, lambda lib, scripts: _defining_module(lib, function))
    if function == "FusionSpec":
        assert not changed & TRAINING
    if function == "TrainSpec":
        assert not changed & FUSION
    if function in ("DataSpec", "TrackingSpec"):
        assert not changed & (TRAINING | FUSION | REPORTS)
    assert changed == changes


def test_the_fusion_rules_settings_are_the_fusion_specs_fields():
    """common.smk's FUSION_SETTINGS (which fusion settings each protocol's rules get as params) names
    only FusionSpec fields, and every field reaches some protocol's rules: a field added to the spec
    without its param would be silently left at its default by the workflow."""
    from dataclasses import fields

    from emofusion.fusion_spec import FusionSpec

    text = (REPO / "workflow" / "rules" / "common.smk").read_text()
    block = re.search(r"^FUSION_SETTINGS = (\{.*?\n\})", text, re.S | re.M).group(1)
    settings = ast.literal_eval(block)
    names = {f.name for f in fields(FusionSpec)}
    assert set(settings) == {"in-sample", "grouped-cv"}
    assert set().union(*map(set, settings.values())) == names, (settings, names)


def test_the_data_rules_settings_are_the_data_specs_fields():
    """common.smk's DATA_SETTINGS (which data settings each data rule gets in its ``data`` param)
    names only DataSpec fields, the feature caches read every one, and every rule named is a rule of
    features.smk passing exactly ``data=get_data_settings("<rule>")`` (the feature caches through
    get_feature_data_settings, the set's own window): a field added to the spec without its param
    would be silently left at its default by the workflow."""
    from dataclasses import fields

    from emofusion.data_spec import DATA_KEYS, DataSpec

    text = (REPO / "workflow" / "rules" / "common.smk").read_text()
    block = re.search(r"^DATA_SETTINGS = (\{.*?\n\})", text, re.S | re.M).group(1)
    settings = ast.literal_eval(block)
    names = {f.name for f in fields(DataSpec)}
    assert set(DATA_KEYS) == names
    assert set(settings["cache_features"]) == names, settings
    assert set().union(*map(set, settings.values())) <= names, (settings, names)
    rules = (REPO / "workflow" / "rules" / "features.smk").read_text()
    for rule in settings:
        body = re.search(rf"^rule {rule}:\n(.*?)(?=^rule |\Z)", rules, re.S | re.M).group(1)
        want = "get_feature_data_settings" if rule == "cache_features" else f'get_data_settings("{rule}")'
        assert re.findall(r"^ +data=(.+),$", body, re.M) == [want], rule


def test_the_tracking_rule_passes_every_tracking_key_as_its_own_param():
    """One param per key of TrackingSpec (the script builds its spec from them), none left out."""
    from emofusion.tracking_spec import TRACKING_KEYS

    passed = re.findall(r'^ +(\w+)=TRACKING\["(\w+)"\],$', (REPO / "workflow" / "rules" / "tracking.smk").read_text(),
                        re.M)
    assert all(name == key for name, key in passed), passed
    assert [name for name, _ in passed] == list(TRACKING_KEYS)
