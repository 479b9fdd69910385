"""ORM models. Importing this package registers every table with Base.metadata (Alembic sees them all)."""

from models.announcement import Announcement  # noqa: F401
from models.background import BackgroundJob, JobStatus
from models.base import Base, utcnow
from models.campaign import Campaign, CampaignIssue
from models.cleaning import CleaningDay, CleaningPost, CleaningRsvp, CleaningSeries  # noqa: F401
from models.community import Area, Building, ChatLink, Community, GroupChat
from models.consultation import Consultation, ConsultationPost, ConsultationVote
from models.department import DEPARTMENT_KINDS, Department
from models.digest import DigestRun
from models.household import Household, HouseholdMember
from models.inspection import Inspection, SpotCheck  # noqa: F401
from models.issue import CloseHow, Issue, IssueEvent, IssueFollower, IssuePhoto, IssueStatus
from models.member import Invite, JoinRequest, Member, Role
from models.outbox import ChatState, OutboxItem, OutboxStatus
from models.patrol import (  # noqa: F401
    AssignmentStatus,
    CheckpointVisit,
    PatrolCheckpoint,
    PatrolRoute,
    PatrolShift,
    RosterMessage,
    ShiftAssignment,
    ShiftStatus,
    ShiftSwap,
    ShiftTemplate,
)
from models.relay import Relay, RelayMessage
from models.survey import Survey, SurveyResponse
from models.system import FsmRecord, JobLease, ProcessedUpdate
from models.web import SettingChange, WebLoginToken, WebSession

__all__ = [
    "DEPARTMENT_KINDS", "Area", "BackgroundJob", "Base", "Building", "Campaign", "CampaignIssue", "ChatLink",
    "ChatState", "CloseHow", "Community", "Consultation", "ConsultationPost", "ConsultationVote", "Department",
    "DigestRun", "FsmRecord", "GroupChat",
    "Household", "HouseholdMember", "Invite", "Issue", "IssueEvent", "IssueFollower", "IssuePhoto", "IssueStatus",
    "JobLease", "JobStatus", "JoinRequest", "Member", "OutboxItem", "OutboxStatus", "ProcessedUpdate", "Relay",
    "RelayMessage", "Role", "SettingChange", "Survey", "SurveyResponse", "WebLoginToken", "WebSession", "utcnow",
]
