import pytest
import yaml

from sdcore.claims import NOTEBOOKS
from sdcore.commands.reproduce import parameters_file
from sdcore.project.profiles import ProfileError
from sdcore.project.run import NotebookRun, notebook_runs


def test_unknown_notebook_is_named(project_copy):
    with pytest.raises(ValueError, match="unknown notebook 'nope'.*notebooks: "):
        notebook_runs(project_copy, "smoke", ["nope"])


def test_missing_profile_lists_the_profiles(project_copy):
    with pytest.raises(ProfileError, match="profile 'tpu'.*profiles with parameter files: "
                                           "cpu, gpu, paper, smoke"):
        NotebookRun(project_copy, "tpu", NOTEBOOKS[0].name).parameters


def test_merged_parameters_put_a_notebooks_own_keys_over_the_shared_ones(project_copy):
    name = NOTEBOOKS[0].name
    shared = project_copy / "parameters" / "smoke" / "_shared.yaml"
    own = project_copy / "parameters" / "smoke" / f"{name}.yaml"
    shared.write_text(shared.read_text() + "seeds: 5\n")
    own.write_text(own.read_text() + "seeds: 2\n")
    path = parameters_file(NotebookRun(project_copy, "smoke", name))
    merged = yaml.safe_load(path.read_text())
    assert merged["seeds"] == 2 and merged["profile"] == "smoke" and "generations" in merged
    assert path.read_text().startswith("# merged from parameters/smoke/_shared.yaml + ")
