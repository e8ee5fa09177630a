import pytest

from sdcore.reproduce import ReproduceError, reproduce, toc_notebooks


def test_toc_lists_the_claim_notebooks_in_order(project_copy):
    names = [nb.stem for nb in toc_notebooks(project_copy)]
    assert names[0] == "01_student_beats_teacher"
    assert names == sorted(names)


def test_unknown_notebook_is_named(project_copy):
    with pytest.raises(ReproduceError, match="unknown notebook.*nope"):
        reproduce("smoke", only=["nope"], build=False, root=project_copy)


def test_missing_profile_lists_the_profiles(project_copy):
    with pytest.raises(ReproduceError, match="profile 'tpu'.*profiles with parameter files: "
                                             "cpu, gpu, paper, smoke"):
        reproduce("tpu", build=False, root=project_copy)
