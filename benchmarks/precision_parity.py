"""Does bf16 training change what the cpu profile measures? Teachers and students in both precisions.

In the principal C1 setting of the cpu profile (the first declared setting of
``parameters/cpu/_shared.yaml``), on seeds that no page judges and no search used (from 5000), a
teacher and its distilled student are trained per seed in fp32 and in bf16 (same seed: same
initialization, data order and subset; only the precision differs). Declared before the run: the
two precisions agree if the paired difference of the teachers' test accuracy (bf16 − fp32), and
of the students' gains over their teachers, are each equivalent to 0 within ±``MARGIN_PP`` (two
one-sided tests at 5%, ``stats.equivalence``), the margin being about the seed-to-seed standard
deviation of a teacher's test accuracy on these subsets (the cpu profile's convergence margin).
Each difference is printed with its 95% interval, beside the seed-to-seed spread of the fp32
teachers. ``--extension N`` adds N seeds after the declared ones and reports the declared block,
the extension and both pooled: the first run (12 seeds) left the students' gain undecided (its
interval reached past the margin on one side), so 12 more were added and the log says so; the
extension is reported beside the declared block, never in its place. Writes
``benchmarks/precision_parity.log`` (and ``.json``), with the date and the CPU.
Run: python benchmarks/precision_parity.py [--seeds 12] [--extension 12] [--jobs 2]   (about 6
minutes per 12 seeds on 2 cores: per seed two fp32 and two bf16 trainings of 40 epochs of 1,000
images).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from datetime import date
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
from parallel import train_stages  # noqa: E402  (the experiments' process pool)

from sdcore.claims import notebook_of_module, student_beats_teacher  # noqa: E402
from sdcore.claims.common import kd_weights, lab_for, teacher_spec  # noqa: E402
from sdcore.engine.hardware import cpu_info  # noqa: E402
from sdcore.engine.stats import equivalence, mean_ci  # noqa: E402
from sdcore.paths import project_root  # noqa: E402
from sdcore.project.profiles import merged  # noqa: E402

MARGIN_PP = 0.5  # equivalence margin of each paired difference, in accuracy points
FIRST_SEED = 5000  # disjoint from every judged seed (100+, 300+) and every search (0-2, 1000+, 2000+)
PRECISIONS = ("fp32", "bf16")


def principal(precision: str, seeds: int) -> student_beats_teacher.Config:
    """The cpu profile's first declared C1 setting, at ``precision``, on the parity seeds."""
    base = merged(project_root(), "cpu", notebook_of_module(student_beats_teacher).name)
    setting = {k: v for k, v in base["settings"][0].items() if k != "name"}
    return student_beats_teacher.Config.from_params({
        **base, "settings": [], **setting, "seeds": seeds, "first_seed": FIRST_SEED,
        "precision": precision, "profile": "exploration"})


def difference(values: list[float]) -> dict:
    mean, low, high = mean_ci(values)
    outcome, p = equivalence(values, MARGIN_PP)
    return {"mean": mean, "ci95": [low, high], "sd": statistics.stdev(values),
            "tost": outcome, "tost_p": p, "per_seed": values}


def block_report(acc: dict, part: slice) -> dict:
    """The teachers' spread and the two paired differences over the seeds ``part``."""
    own = {p: {role: values[part] for role, values in acc[p].items()} for p in PRECISIONS}
    gain = {p: [s - t for s, t in zip(own[p]["student"], own[p]["teacher"])] for p in PRECISIONS}
    return {"seeds": len(own["fp32"]["teacher"]),
            "teacher_mean": {p: statistics.mean(own[p]["teacher"]) for p in PRECISIONS},
            "teacher_seed_sd": {p: statistics.stdev(own[p]["teacher"]) for p in PRECISIONS},
            "gain": {p: mean_ci(gain[p]) for p in PRECISIONS},
            "teacher_bf16_minus_fp32": difference(
                [b - f for b, f in zip(own["bf16"]["teacher"], own["fp32"]["teacher"])]),
            "gain_bf16_minus_fp32": difference(
                [b - f for b, f in zip(gain["bf16"], gain["fp32"])])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=12, help="declared seeds per precision (≥ 2)")
    parser.add_argument("--extension", type=int, default=12, help="seeds added after the "
                        "declared ones, reported apart and pooled (0: none)")
    parser.add_argument("--jobs", type=int, default=2, help="processes training at once")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent,
                        help="folder of precision_parity.log and .json")
    args = parser.parse_args()
    if args.seeds < 2:
        parser.error("--seeds must be at least 2 (a paired interval needs two)")
    configs = {p: principal(p, args.seeds + args.extension) for p in PRECISIONS}
    seeds = range(FIRST_SEED, FIRST_SEED + args.seeds + args.extension)
    teachers = {p: [teacher_spec(c, s) for s in seeds] for p, c in configs.items()}
    students = {p: [t.student(t.key, kd_weights(configs[p])) for t in ts]
                for p, ts in teachers.items()}
    train_stages(configs["fp32"], [sum(teachers.values(), []), sum(students.values(), [])],
                 args.jobs)
    lab = lab_for(configs["fp32"])
    acc = {p: {role: [lab.get(s).metrics["test_acc"] for s in specs]
               for role, specs in (("teacher", teachers[p]), ("student", students[p]))}
           for p in PRECISIONS}
    blocks = {f"declared, seeds {seeds[0]}-{seeds[args.seeds - 1]}": slice(0, args.seeds)}
    if args.extension:
        blocks[f"extension, seeds {seeds[args.seeds]}-{seeds[-1]}"] = slice(args.seeds, None)
        blocks[f"pooled, seeds {seeds[0]}-{seeds[-1]}"] = slice(None)
    report = {"date": date.today().isoformat(), "cpu": cpu_info(), "torch": torch.__version__,
              "setting": configs["fp32"].setting_names()[0], "margin_pp": MARGIN_PP,
              "test_acc": acc,
              "blocks": {name: block_report(acc, part) for name, part in blocks.items()}}
    text = render(report)
    print(text)
    (args.out / "precision_parity.log").write_text(text + "\n")
    (args.out / "precision_parity.json").write_text(json.dumps(report, indent=2) + "\n")


def render(r: dict) -> str:
    def line(name: str, d: dict) -> str:
        low, high = d["ci95"]
        return (f"    {name:<32} {d['mean']:+.2f} pp [{low:+.2f}, {high:+.2f}], sd {d['sd']:.2f}; "
                f"TOST at ±{r['margin_pp']} pp: {d['tost']} (p = {d['tost_p']:.3f})")

    lines = [f"{r['date']}: {r['cpu']['model']}, flags "
             f"{', '.join(r['cpu']['flags'] or ['unknown'])}; torch {r['torch']}",
             f"setting {r['setting']} of the cpu profile; one teacher and one student per seed "
             "and precision"]
    for name, b in r["blocks"].items():
        teachers = ", ".join(f"{p} {b['teacher_mean'][p]:.2f} % (seed sd "
                             f"{b['teacher_seed_sd'][p]:.2f})" for p in PRECISIONS)
        gains = ", ".join(f"{p} {m:+.2f} [{lo:+.2f}, {hi:+.2f}]"
                          for p, (m, lo, hi) in b["gain"].items())
        lines += ["", f"{name} ({b['seeds']} seeds)", f"  teachers' test accuracy: {teachers}",
                  f"  students' gain over their teachers (pp, 95% interval): {gains}",
                  "  paired differences, bf16 − fp32 (95% interval):",
                  line("teacher test accuracy", b["teacher_bf16_minus_fp32"]),
                  line("student's gain over its teacher", b["gain_bf16_minus_fp32"])]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
