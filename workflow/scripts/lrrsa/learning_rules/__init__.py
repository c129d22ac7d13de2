"""Learning rules, registered by name: the ``rule`` of a condition in the config.

Adding a rule: subclass LearningRule in its own module, decorate it with
``@register``, import the module here, and add its hyperparameters to the
config schema's ``$defs`` and the ``rule`` enum (a test checks they agree).
"""

from lrrsa.learning_rules.base import RULES, LearningRule, StepResult, make_rule, register
from lrrsa.learning_rules import (  # noqa: F401  (registers the rules)
    backprop,
    feedback_alignment,
    predictive_coding,
    readout_only,
    stdp,
    untrained,
)

__all__ = ["RULES", "LearningRule", "StepResult", "make_rule", "register"]
