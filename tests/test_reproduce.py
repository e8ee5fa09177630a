import pytest
import yaml

from sdcore.claims import NOTEBOOKS
from sdcore.reproduce import ReproduceError, merged_parameters_file, reproduce


def test_unknown_notebook_is_named(project_copy):
    with pytest.raises(ReproduceError, match="unknown notebook.*nope"):
        reproduce("smoke", only=["nope"], build=False, root=project_copy)


def test_missing_profile_lists_the_profiles(project_copy):
    with pytest.raises(ReproduceError, match="profile 'tpu'.*profiles with parameter files: "
                                             "cpu, gpu, paper, smoke"):
        reproduce("tpu", build=False, root=project_copy)


def test_merged_parameters_put_a_notebooks_own_keys_over_the_shared_ones(project_copy):
    name = NOTEBOOKS[0].name
    shared = project_copy / "parameters" / "smoke" / "_shared.yaml"
    own = project_copy / "parameters" / "smoke" / f"{name}.yaml"
    shared.write_text(shared.read_text() + "seeds: 5\n")
    own.write_text(own.read_text() + "seeds: 2\n")
    path = merged_parameters_file(project_copy, "smoke", name)
    merged = yaml.safe_load(path.read_text())
    assert merged["seeds"] == 2 and merged["profile"] == "smoke" and "generations" in merged
    assert path.read_text().startswith("# merged from parameters/smoke/_shared.yaml + ")
