"""Campaigns (专项整治), by seam: drafts (the template's phases, the wizard's draft), results (figures,
progress, summary, the tick's events) and service (the rules, the tick, the hooks). Importing the package
registers the campaigns job, the new-issue hook and the erasure step (bot/services/campaigns/service.py)."""

from bot.services.campaigns.drafts import (
    MAX_INSTRUCTION,
    MAX_NAME,
    MAX_TARGET,
    PHASE_KEYS,
    CampaignError,
    CampDraft,
    default_phases,
)
from bot.services.campaigns.results import (
    CampaignEnded,
    CampaignPhaseStarted,
    Figures,
    IssueChoice,
    Progress,
    ProgressRow,
    Summary,
)
from bot.services.campaigns.service import (
    ALBUM_BEST,
    PHASE_HOUR,
    CampaignsService,
    campaign_names,
    campaign_sections,
    campaigns_job,
    in_campaign,
)

__all__ = ["ALBUM_BEST", "MAX_INSTRUCTION", "MAX_NAME", "MAX_TARGET", "PHASE_HOUR", "PHASE_KEYS", "CampDraft",
           "CampaignEnded", "CampaignError", "CampaignPhaseStarted", "CampaignsService", "Figures", "IssueChoice",
           "Progress", "ProgressRow", "Summary", "campaign_names", "campaign_sections", "campaigns_job",
           "default_phases", "in_campaign"]
