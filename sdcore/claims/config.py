"""Notebook parameters as frozen, validated pydantic models.

Papermill injects plain literals into a notebook; ``Config.from_params`` turns them into a frozen
config, rejecting unknown keys, wrong types, NaN and infinities and impossible values with a message
that names the key and what is allowed, before anything is trained or written. Every field carries
its own help text and bounds, so the book's parameter reference and each notebook's parameters cell
are generated from here and cannot drift. Ints are accepted where floats are expected.
"""

from __future__ import annotations

import difflib
import typing
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticUndefined

from ..engine.data import image_side
from ..engine.models import MODEL_NAMES, check_model
from ..engine.named_models import NAMED_FORMS, check_named, is_named
from ..engine.specs import AVERAGES

MEASURABLE = ("teacher", "student 1", "label-smoothing student", "class-mean student",
              "shuffled-teacher student", "long teacher", "SAM teacher",
              "student of SAM")  # C1's roles the flatness pages may measure (claims.roles)
DATASETS = ("synthetic", "multiview:<views>[:<feature noise>]", "fashion-mnist", "cifar10",
            "cifar100", "imagefolder:<path>")
Average = Literal[AVERAGES]  # type: ignore[valid-type]


class ConfigError(ValueError):
    """A parameter is unknown, of the wrong type, or out of range."""


def _type_name(value: Any) -> str:
    return type(value).__name__


def _message(error: dict, fields: list[str]) -> str:
    """One pydantic error as the sentence a user acts on: the key, what came, what is allowed."""
    kind, ctx, given = error["type"], error.get("ctx", {}), error.get("input")
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(error["loc"][0]), fields, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return (f"unknown parameter(s) {error['loc'][0]!r}{hint}; allowed: "
                f"{', '.join(fields)}")
    if kind in ("value_error", "assertion_error") and not error["loc"]:
        return str(ctx.get("error", error["msg"]))
    key = f"parameter {error['loc'][0]!r}"
    if kind == "value_error":
        return f"{key}: {ctx.get('error', error['msg'])}"
    if kind == "finite_number":
        return f"{key}: {given!r} is not allowed; it must be a finite number"
    if kind in ("greater_than_equal", "greater_than"):
        return f"{key}: {given!r} is below its minimum {ctx.get('ge', ctx.get('gt'))}"
    if kind in ("less_than_equal", "less_than"):
        return f"{key}: {given!r} is above its maximum {ctx.get('le', ctx.get('lt'))}"
    if kind == "literal_error":
        allowed = ctx["expected"].replace("'", "")
        return f"{key}: {given!r} is not allowed; allowed: {allowed.replace(' or ', ', ')}"
    if kind in ("list_type", "too_short"):
        hint = (f" (papermill's -p passes text: give lists as YAML, -y '{error['loc'][0]}: "
                "[a, b]')" if isinstance(given, str) else "")
        return f"{key}: expected a non-empty list, got {given!r}{hint}"
    expected = kind.split("_")[0].replace("string", "str")
    return f"{key}: expected {expected}, got {_type_name(given)} {given!r}"


class Config(BaseModel):
    """Base of every notebook's config: validation, the parameter reference, plain dicts."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False,
                              validate_default=True)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "Config":
        """Validate ``params`` (e.g. the parameters papermill injected into a notebook); the
        text ``true`` or ``false`` (papermill's ``-p key false`` injects text) is taken as a
        yes/no answer where the key is one."""
        try:
            return cls.model_validate(cls._yes_no(params))
        except ValidationError as err:
            fields = list(cls.model_fields)
            raise ConfigError("; ".join(dict.fromkeys(_message(e, fields)
                                                      for e in err.errors()))) from None

    @classmethod
    def _yes_no(cls, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` with each text "true"/"false" (any case) of a bool field made a bool."""
        def answer(key: str, value: Any) -> Any:
            field = cls.model_fields.get(key)
            if (field is not None and field.annotation is bool and isinstance(value, str)
                    and value.lower() in ("true", "false")):
                return value.lower() == "true"
            return value
        return {key: answer(key, value) for key, value in params.items()}

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()

    @classmethod
    def reference(cls) -> list[dict[str, Any]]:
        """One row per parameter: name, type, default, allowed values, help."""
        rows = []
        for name, field in cls.model_fields.items():
            allowed = []
            extra = field.json_schema_extra or {}
            if "allowed" in extra:
                allowed.append(extra["allowed"])
            for tp in (field.annotation, *typing.get_args(field.annotation)):
                if typing.get_origin(tp) is Literal:
                    allowed.append(" | ".join(map(str, typing.get_args(tp))))
            for bound in field.metadata:
                for attr, sign in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
                    if getattr(bound, attr, None) is not None:
                        allowed.append(f"{sign} {getattr(bound, attr)}")
            default = field.default if field.default is not PydanticUndefined else None
            rows.append({"name": name, "type": _annotation_name(field.annotation),
                         "default": default, "allowed": ", ".join(allowed),
                         "help": field.description})
        return rows


def _annotation_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return "str"
    if typing.get_origin(tp) is list:
        return f"list[{_annotation_name(typing.get_args(tp)[0])}]"
    return getattr(tp, "__name__", str(tp))


def _is_multiview(argument: str) -> bool:
    """``<views>`` or ``<views>:<feature noise>``: a positive integer, then a number ≥ 0."""
    views, _, noise = argument.partition(":")
    try:
        return views.isdigit() and int(views) >= 1 and (not noise or float(noise) >= 0)
    except ValueError:
        return False


def check_dataset(name: str) -> str:
    kind, _, argument = name.partition(":")
    if (name in DATASETS and not argument) or (kind == "imagefolder" and argument) or (
            kind == "multiview" and _is_multiview(argument)):
        return name
    raise ValueError(f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")


SETTING_KEYS = ("dataset", "model", "width", "train_subset", "test_subset", "resample_subset",
                "epochs", "batch_size", "lr", "weight_decay", "augment", "seeds", "first_seed",
                "discovery_seeds", "weight_ce", "weight_kd",
                "temperature")  # what a declared setting may change


class ExperimentConfig(Config):
    """Data, model, training recipe, distillation loss, seeds and hardware: every claim's."""

    ABOUT_SETTINGS: typing.ClassVar[tuple[str, ...]] = ("settings",)  # name declared settings

    profile: str = Field("cpu", description="profile name; the results record goes to "
                         "results/<profile>/", json_schema_extra={"allowed": "letters, digits, "
                                                                             "- and _"})
    datasets: Annotated[list[str], Field(min_length=1)] = Field(
        ["fashion-mnist"], description="datasets, one setting each: " + ", ".join(DATASETS))
    models: Annotated[list[str], Field(min_length=1)] = Field(
        ["resnet8"], description="architectures, one setting each (teacher and student share "
        "it): " + ", ".join((*MODEL_NAMES, *NAMED_FORMS)),
        json_schema_extra={"allowed": " | ".join((*MODEL_NAMES, "torchvision:<name>",
                                                  "timm:<name>"))})
    width: float = Field(1.0, ge=0.125, le=8.0,
                         description="width multiplier of the model's channels")
    train_subset: int = Field(0, ge=0, description="train on this many training images (a fixed, "
                              "class-stratified subset), or 0 for all of them")
    test_subset: int = Field(0, ge=0, description="evaluate on this many test images (a fixed, "
                             "class-stratified subset), or 0 for all of them")
    resample_subset: bool = Field(False, description="draw each seed's train_subset images anew "
                                  "(class-stratified, from the seed), so that the seeds' spread "
                                  "includes the data's and intervals speak for the data "
                                  "distribution; false: every seed trains on one fixed subset")
    image_size: int = Field(32, ge=8, le=512, description="side of the square images an "
                            "imagefolder dataset is resized to")
    data_root: str = Field("", description="where datasets are looked for and downloaded; empty "
                           "means <repo>/data")
    download: bool = Field(True, description="download a dataset that is not found offline")
    seeds: int = Field(3, ge=1, le=100,
                       description="number of seeds (independent teacher/student chains)")
    first_seed: int = Field(0, ge=0, description="the first seed; seeds are first_seed, "
                            "first_seed + 1, ...")
    discovery_seeds: int = Field(0, ge=0, description="the first this many seeds form the "
                                 "discovery block and the rest the replication block: a decisive "
                                 "outcome must hold in the pooled seeds and agree in sign in both "
                                 "blocks (0: one block, no replication)")
    epochs: int = Field(15, ge=1, description="training epochs, the same for teacher and every "
                        "student")
    batch_size: int = Field(128, ge=1, description="mini-batch size")
    lr: float = Field(0.1, ge=0.0, description="peak learning rate of SGD")
    momentum: float = Field(0.9, ge=0.0, le=1.0, description="SGD momentum")
    nesterov: bool = Field(True, description="Nesterov momentum")
    weight_decay: float = Field(5.0e-4, ge=0.0, description="L2 weight decay, added to the "
                                "gradient (torch.optim.SGD's coupled form) of weights with 2+ "
                                "dimensions; BatchNorm parameters and biases get none")
    schedule: Literal["cosine", "step"] = Field("cosine", description="learning-rate schedule: "
                                                "cosine (to 0, per step) or step (x0.1 at 50% "
                                                "and 75% of the epochs)")
    augment: bool = Field(True, description="random crop (padding 1/8 of the side) and, where "
                          "the dataset allows, horizontal flip")
    weight_ce: float = Field(0.5, ge=0.0, description="student loss weight of cross-entropy "
                             "with the labels")
    weight_kd: float = Field(0.5, ge=0.0, description="student loss weight of T^2 * "
                             "KL(teacher || student)")
    temperature: float = Field(4.0, ge=1.0e-3, description="distillation temperature T")
    device: str = Field("auto", description="auto (cuda if available), cpu, cuda or cuda:N",
                        json_schema_extra={"allowed": "auto | cpu | cuda | cuda:N"})
    cuda_graphs: bool = Field(True, description="on CUDA, capture each model's training step "
                              "once as a CUDA graph and replay it (false: the plain loop); the "
                              "CPU ignores it")
    models_at_once: int = Field(4, ge=1, le=64, description="on CUDA, independent models (e.g. "
                                "the seeds of a setting) trained together, each on its own "
                                "stream; the CPU trains one at a time")
    precision: Literal["bf16", "fp32"] = Field("fp32", description="training precision: bf16 "
                                               "(autocast; BatchNorm's weights and statistics "
                                               "and the losses in fp32; native on CPUs with "
                                               "AVX-512 BF16 or AMX and on recent GPUs) or "
                                               "fp32; part of every model's key. Measurements "
                                               "(accuracy, calibration, Hessians, landscapes) "
                                               "read models in fp32 either way")
    torch_compile: bool = Field(False, description="torch.compile each trained model's forward "
                                "pass and an online teacher's (TorchInductor fuses BatchNorm, "
                                "ReLU and residual kernels; on the CPU it needs a C++ compiler), "
                                "once per architecture and input shape in each process; it "
                                "changes a model's last bits, so it is part of its key")
    run_store: str = Field("", description="run store folder; empty means $SDCORE_RUNS, else "
                           "<repo>/runs")
    run_name: str = Field("", description="name of a run of your own: its record goes to "
                          "results/own/<run_name>/, never to results/<profile>/ (empty: a run "
                          "with the profile's parameters writes results/<profile>/, any other "
                          "run results/own/<name>/, its name made of the profile and the keys "
                          "it changes)", json_schema_extra={"allowed": "letters, digits, -, _, . "
                                                                    "and ="})
    train_missing: bool = Field(True, description="train models missing from the run store "
                                "(false: stop with the command that trains them, e.g. on a "
                                "login node)")

    @field_validator("datasets")
    @classmethod
    def _datasets(cls, names: list[str]) -> list[str]:
        return [check_dataset(name) for name in names]

    @field_validator("models")
    @classmethod
    def _models(cls, names: list[str]) -> list[str]:
        return [check_model(name) for name in names]

    @field_validator("device")
    @classmethod
    def _device(cls, name: str) -> str:
        if name in ("auto", "cpu", "cuda") or (name.startswith("cuda:") and name[5:].isdigit()):
            return name
        raise ValueError(f"unknown device {name!r}; allowed: auto, cpu, cuda, cuda:N")

    @field_validator("profile")
    @classmethod
    def _profile(cls, name: str) -> str:
        if name and all(c.isalnum() or c in "-_" for c in name):
            return name
        raise ValueError(f"{name!r} is not a plain name (letters, digits, - and _)")

    @field_validator("run_name")
    @classmethod
    def _run_name(cls, name: str) -> str:
        if not name or (all(c.isalnum() or c in "-_.=" for c in name)
                        and not name.startswith(".")):
            return name
        raise ValueError(f"{name!r} is not a folder name (letters, digits, -, _, . and =, not "
                         "starting with .)")

    settings: list[dict[str, Any]] = Field(
        [], description="declared settings, each a mapping with a unique 'name' and the "
        "parameters where it departs from the ones above (" + ", ".join(SETTING_KEYS)
        + "; 'dataset' and 'model' name one each); empty: one setting per dataset and model")

    @model_validator(mode="after")
    def _named_models_fit(self) -> "ExperimentConfig":
        """Each named architecture takes width 1 and runs on each dataset's images (declared
        settings are checked one by one, as they resolve)."""
        for model in filter(is_named, [] if self.settings else self.models):
            if self.width != 1.0:
                raise ValueError(f"parameter 'width': {model} has no width multiplier; width "
                                 f"must be 1.0, not {self.width}")
            for dataset in self.datasets:
                try:
                    check_named(model, image_side(dataset, self.image_size))
                except ValueError as err:
                    raise ValueError(f"parameter 'models', on {dataset}: {err}") from None
        return self

    @model_validator(mode="after")
    def _blocks(self) -> "ExperimentConfig":
        if self.discovery_seeds and not 2 <= self.discovery_seeds <= self.seeds - 2:
            raise ValueError(f"parameter 'discovery_seeds': {self.discovery_seeds} leaves a block "
                             f"of fewer than 2 of the {self.seeds} seeds; give 0 (one block) or "
                             f"2 to {self.seeds - 2}")
        return self

    @model_validator(mode="after")
    def _some_loss(self) -> "ExperimentConfig":
        if self.weight_ce + self.weight_kd <= 0:
            raise ValueError("parameters 'weight_ce' and 'weight_kd': at least one must be > 0")
        return self

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "ExperimentConfig":
        """``Config.from_params``, then each declared setting resolved (after the config's own
        checks, so that an error in a shared key is named as such)."""
        config = super().from_params(params)
        config._settings_resolve()
        return config

    def _settings_resolve(self) -> None:
        """Each declared setting has a unique name, known keys, and validates."""
        names = [s.get("name") for s in self.settings]
        for i, setting in enumerate(self.settings):
            where = f"parameter 'settings' (entry {i + 1}"
            if not isinstance(setting.get("name"), str) or not setting["name"]:
                raise ConfigError(f"{where}): each setting needs a 'name' (text)")
            if names.count(setting["name"]) > 1:
                raise ConfigError(f"{where}): the name {setting['name']!r} is used twice")
            unknown = sorted(set(setting) - {"name", *SETTING_KEYS})
            if unknown:
                raise ConfigError(f"{where}, {setting['name']!r}): unknown key(s) "
                                  f"{', '.join(map(repr, unknown))}; allowed: name, "
                                  + ", ".join(SETTING_KEYS))
            try:
                self._setting_config(setting)
            except ConfigError as err:
                raise ConfigError(f"{where}, {setting['name']!r}): {err}") from None

    def _setting_config(self, setting: dict[str, Any]) -> "ExperimentConfig":
        changes = {k: v for k, v in setting.items() if k not in ("name", "dataset", "model")}
        if "dataset" in setting:
            changes["datasets"] = [setting["dataset"]]
        if "model" in setting:
            changes["models"] = [setting["model"]]
        scoped = {key: [] for key in self.ABOUT_SETTINGS}  # a resolved setting declares none
        return type(self).from_params({**self.model_dump(), **changes, **scoped})


    def check_declared(self, parameter: str) -> None:
        """That every setting name ``parameter`` lists is declared, else a ``ValueError``."""
        names = self.setting_names()
        unknown = [s for s in getattr(self, parameter) if s not in names]
        if unknown:
            raise ValueError(f"parameter {parameter!r}: {', '.join(map(repr, unknown))} not "
                             f"declared; declared: {', '.join(names)}")

    def setting_names(self) -> list[str]:
        """The names ``declared()`` gives, without resolving the settings."""
        if self.settings:
            return [s.get("name") for s in self.settings]
        return [f"{d} · {m}" for d in self.datasets for m in self.models]

    def declared(self) -> list[tuple[str, "ExperimentConfig"]]:
        """Every declared setting: its name and its config (one dataset, one model, no further
        settings). Without ``settings``, one per dataset and model, named ``dataset · model``."""
        if self.settings:
            return [(s["name"], self._setting_config(s)) for s in self.settings]
        return [(f"{d} · {m}", self.model_copy(update={"datasets": [d], "models": [m]}))
                for d in self.datasets for m in self.models]


class ChainsConfig(ExperimentConfig):
    """Claims judged on chains of self-distilled generations."""

    generations: int = Field(1, ge=1, le=20, description="students per chain; student 1 is "
                             "distilled from the teacher, student k from student k-1 "
                             "(born-again style)")


class FlatnessConfig(ChainsConfig):
    """Claims measured on the models of C1's chains (C3 and C4)."""

    ABOUT_SETTINGS: typing.ClassVar[tuple[str, ...]] = ("settings", "measured_settings")

    measured_seeds: int = Field(0, ge=0, description="measure the first this many seeds of each "
                                "declared setting (0: every seed)")
    measured_settings: list[str] = Field([], description="measure the models of these declared "
                                         "settings (names; empty: every declared setting)")
    roles: list[str] = Field(["teacher", "student 1"], description="C1's roles measured per "
                             "seed (teacher and student 1 always): " + ", ".join(MEASURABLE))
    sam_rho: float = Field(0.0, ge=0.0, le=10.0, description="sharpness-aware minimization's "
                           "radius for the SAM teacher of C4's intervention (needed by the "
                           "roles 'SAM teacher' and 'student of SAM'; 0: no SAM arm)")
    equivalence_margin: float = Field(0.5, gt=0.0, le=100.0, description="a role's gain counts "
                                      "as none within ± this many points (two one-sided tests)")

    @model_validator(mode="after")
    def _measured_settings_declared(self) -> "FlatnessConfig":
        self.check_declared("measured_settings")
        return self

    @model_validator(mode="after")
    def _roles(self) -> "FlatnessConfig":
        unknown = [r for r in self.roles if r not in MEASURABLE]
        if unknown or not {"teacher", "student 1"} <= set(self.roles):
            raise ValueError(f"parameter 'roles': {', '.join(map(repr, unknown)) or 'a list'} "
                             f"{'unknown' if unknown else 'without teacher and student 1'}; "
                             f"allowed: {', '.join(MEASURABLE)}, teacher and student 1 among "
                             "them")
        if not self.sam_rho and {"SAM teacher", "student of SAM"} & set(self.roles):
            raise ValueError("parameter 'roles': the SAM roles need sam_rho > 0")
        return self
