"""ORM models. Importing this package registers every table with Base.metadata (Alembic sees them all)."""

from models.base import Base, utcnow
from models.community import Area, Building, ChatLink, Community, GroupChat
from models.issue import Issue, IssueEvent, IssueFollower, IssuePhoto, IssueStatus
from models.member import Invite, JoinRequest, Member, Role
from models.outbox import ChatState, OutboxItem, OutboxStatus
from models.system import FsmRecord, JobLease, ProcessedUpdate

__all__ = [
    "Area", "Base", "Building", "ChatLink", "ChatState", "Community", "FsmRecord", "GroupChat",
    "Invite", "Issue", "IssueEvent", "IssueFollower", "IssuePhoto", "IssueStatus", "JobLease",
    "JoinRequest", "Member", "OutboxItem", "OutboxStatus", "ProcessedUpdate", "Role", "utcnow",
]
