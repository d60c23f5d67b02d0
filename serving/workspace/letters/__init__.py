"""Appeal letters and corrected-claim checklists: the shipped templates, a team's overrides, the evidence lists."""

from serving.workspace.letters.library import (
    FOLDERS,
    PACKAGE_DIR,
    SAMPLE_FACTS,
    Adjustment,
    Code,
    LetterLibrary,
    TemplateProblem,
    copy_templates,
    long_date,
)

__all__ = [
    "FOLDERS",
    "PACKAGE_DIR",
    "SAMPLE_FACTS",
    "Adjustment",
    "Code",
    "LetterLibrary",
    "TemplateProblem",
    "copy_templates",
    "long_date",
]
