"""Scoring: criteria and profiles as data (YAML, with legal references in French and English), pure functions.

    criteria = load_criteria()
    profile = load_profile("rgpd")          # or "sante", or a path to the user's own YAML profile
    score = score_provider(result, profile, criteria)
    audit = score_audit(audit, "sante")     # every provider of a stored audit, re-scored
    table = rank([r.model_copy(update={"score": score_provider(r, profile, criteria)}) for r in results])
                                            # per kind (mail, chat); rank_within_kinds() sets score.rank
"""

from auditor.scoring.engine import (
    Outcome,
    Ranked,
    evaluate_criterion,
    evaluate_rule,
    rank,
    rank_within_kinds,
    score_audit,
    score_provider,
    use_verdict,
)
from auditor.scoring.models import (
    GRADES,
    Criteria,
    Criterion,
    Expect,
    Profile,
    ProfileCriterion,
    Reference,
    Rule,
    Text,
    UseRule,
    builtin_profiles,
    load_criteria,
    load_profile,
)

__all__ = [
    "GRADES",
    "Criteria",
    "Criterion",
    "Expect",
    "Outcome",
    "Profile",
    "ProfileCriterion",
    "Ranked",
    "Reference",
    "Rule",
    "Text",
    "UseRule",
    "builtin_profiles",
    "evaluate_criterion",
    "evaluate_rule",
    "load_criteria",
    "load_profile",
    "rank",
    "rank_within_kinds",
    "score_audit",
    "score_provider",
    "use_verdict",
]
