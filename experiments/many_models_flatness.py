"""Which flatness measure tracks generalization here? A declared test over many small models.

In the spirit of Jiang et al. (2020): models of the cpu profile's first C1 setting trained by
varied recipes — teachers over learning rate × weight decay × batch size, and students of some of
them over distillation temperature × soft-target weight — on seeds from 2000, disjoint from every
judged seed. Each is measured by every measure of pages 03 and 04 (their cpu parameters) and by
two baselines (the weights' norm, the training loss). The rule, stated before the study ran
(``loss_landscape.MANY_MODELS_RULE``, which page 04 applies to the records written here): a
measure tracks generalization here if its Kendall τ with the generalization gap (train − test
accuracy, pp) and its partial τ given the training loss both have a 95% bootstrap interval
(resampling a teacher with its students) that excludes 0. Outside every verdict. Run:
python experiments/many_models_flatness.py [--jobs 2]. Cost: 32 trainings of 20 epochs on 1,000
images, and every measure of 32 models.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
from pathlib import Path

import torch
from parallel import train_stages

from sdcore.claims import flatter_minima, loss_landscape, notebook_of_module, student_beats_teacher
from sdcore.claims.common import exploration_path, lab_for, teacher_spec
from sdcore.engine.measures import each
from sdcore.engine.specs import KDWeights, ModelSpec
from sdcore.engine.stats import rank_bootstrap
from sdcore.engine.store import atomic_write_json
from sdcore.paths import project_root
from sdcore.project.profiles import merged

FIRST_SEED = 2000
RATES, DECAYS, BATCHES = (0.03, 0.1, 0.3), (0.0, 5e-4), (64, 128)
STUDENTS = {0.1: [(1.0, 0.5), (4.0, 0.5), (4.0, 0.9), (8.0, 0.5)], 0.3: [(4.0, 0.5)]}
EPOCHS = 20
BASELINES = {"weight_norm": "weights' L2 norm (baseline)", "train_loss": "training loss "
             "(baseline)"}


def models(setting: student_beats_teacher.Config) -> tuple[list[ModelSpec], list[ModelSpec],
                                                            dict[str, str]]:
    """The teachers, the students, and each model's family (its teacher's key)."""
    base = teacher_spec(setting, FIRST_SEED)
    teachers = []
    for i, (lr, wd, batch) in enumerate(itertools.product(RATES, DECAYS, BATCHES)):
        recipe = dataclasses.replace(base.recipe, lr=lr, weight_decay=wd, batch_size=batch,
                                     epochs=EPOCHS)
        teachers.append(dataclasses.replace(base, recipe=recipe, seed=FIRST_SEED + i))
    students = [t.student(t.key, KDWeights(round(1 - w, 6), w, temp))
                for t in teachers for temp, w in STUDENTS.get(t.recipe.lr, [])]
    family = {**{t.key: t.key for t in teachers}, **{s.key: s.teacher for s in students}}
    return teachers, students, family


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2, help="processes training at once")
    args = parser.parse_args()
    root = project_root()
    c1 = notebook_of_module(student_beats_teacher).name
    name, setting = student_beats_teacher.Config.from_params(merged(root, "cpu", c1)).declared()[0]
    setting = setting.model_copy(update={"profile": "exploration"})
    teachers, students, family = models(setting)
    train_stages(setting, [teachers, students], args.jobs)
    torch.set_num_threads(2)
    lab = lab_for(setting)
    hessian = flatter_minima.Config.from_params(
        merged(root, "cpu", notebook_of_module(flatter_minima).name))
    scape = loss_landscape.Config.from_params(
        merged(root, "cpu", notebook_of_module(loss_landscape).name))

    def measure(spec: ModelSpec) -> dict:
        trained = lab.get(spec)
        x, y = lab.training_sample(spec, hessian.hessian_samples)
        images = lab.data(spec).train_x[:len(y)]
        _, curvature, _ = flatter_minima.measure_model(trained.model, images, x, y, hessian,
                                                       True, False)
        x, y = lab.training_sample(spec, scape.landscape_samples)
        _, landscape = loss_landscape.measure_model(trained.model, x, y, scape)
        r = spec.recipe
        return {"key": spec.key, "family": family[spec.key], "lr": r.lr,
                "weight_decay": r.weight_decay, "batch_size": r.batch_size,
                "temperature": spec.kd.temperature if spec.kd else None,
                "weight_kd": spec.kd.weight_kd if spec.kd else None,
                **trained.row(), **curvature, **landscape}

    rows = each(teachers + students, measure, "measures")
    measures = {m.column: m.label for m in flatter_minima.MEASURES + scape.measures()}
    measures.update(BASELINES)
    gap = [r["gap"] for r in rows]
    taus = []
    for column, label in measures.items():
        tau, low, high = rank_bootstrap([r[column] for r in rows], gap,
                                        [r["family"] for r in rows], method="kendall")
        taus.append({"measure": column, "label": label, "models": len(rows), "tau": tau,
                     "ci_low": low, "ci_high": high})
        print(f"{label}: τ {tau:+.2f} [{low:+.2f}, {high:+.2f}]", flush=True)
    path = exploration_path(notebook_of_module(loss_landscape).name, kind="many_models")
    atomic_write_json({"setting": name, "seeds": [FIRST_SEED, FIRST_SEED + len(teachers) - 1],
                       "target": "gap (train − test accuracy, pp)", "taus": taus,
                       "models": [{k: v for k, v in r.items() if k != "key"} for r in rows]},
                      Path(path))


if __name__ == "__main__":
    main()
