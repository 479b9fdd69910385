"""The rules, free of aiogram. `build_services` makes the per-update set of services: a typed `Services`
container; handlers receive each service by its field name (e.g. a handler parameter
`members: MembersService`), and mypy checks every use of the container."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.config import Settings

if TYPE_CHECKING:
    from bot.services.announcements import AnnouncementsService
    from bot.services.background import BackgroundService
    from bot.services.board import BoardService
    from bot.services.campaigns import CampaignsService
    from bot.services.cards import CardService
    from bot.services.chats import ChatsService
    from bot.services.cleaning import CleaningService
    from bot.services.consultations import ConsultationsService
    from bot.services.digests import DigestService
    from bot.services.households import HouseholdsService
    from bot.services.inspections import InspectionsService
    from bot.services.ledger import LedgerService
    from bot.services.members import MembersService
    from bot.services.notices import NoticeService
    from bot.services.onboarding import OnboardingService
    from bot.services.operations import OperationsService
    from bot.services.outbox import Outbox
    from bot.services.patrols import PatrolService
    from bot.services.points import PointsService
    from bot.services.referrals import ReferralService
    from bot.services.relays import RelayService
    from bot.services.reporting import ReportingService
    from bot.services.scores import ScoresService
    from bot.services.surveys import SurveysService
    from bot.services.triage import TriageService
    from bot.services.web import WebService


@dataclass
class Services:
    """Every service of one update (or one job), sharing the session, clock, members, chats and outbox."""

    outbox: Outbox
    members: MembersService
    chats: ChatsService
    onboarding: OnboardingService
    background: BackgroundService
    households: HouseholdsService
    ledger: LedgerService
    operations: OperationsService
    board: BoardService
    consultations: ConsultationsService
    web: WebService
    cards: CardService
    reporting: ReportingService
    triage: TriageService
    cleaning: CleaningService
    announcements: AnnouncementsService
    patrols: PatrolService
    digests: DigestService
    surveys: SurveysService
    notices: NoticeService
    referrals: ReferralService
    relays: RelayService
    campaigns: CampaignsService
    inspections: InspectionsService
    scores: ScoresService
    points: PointsService

    def as_data(self) -> dict[str, object]:
        """The handler data: each service under its field name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def build_services(session: AsyncSession, clock: Clock, settings: Settings) -> Services:
    # Imported here, not at the top: every capability module imports this package (for its jobs and
    # registrations), so the package itself must not import them while it loads.
    from bot.capabilities import load_all
    from bot.services.announcements import AnnouncementsService
    from bot.services.background import BackgroundService
    from bot.services.board import BoardService
    from bot.services.campaigns import CampaignsService
    from bot.services.cards import CardService
    from bot.services.chats import ChatsService
    from bot.services.cleaning import CleaningService
    from bot.services.consultations import ConsultationsService
    from bot.services.digests import DigestService
    from bot.services.households import HouseholdsService
    from bot.services.inspections import InspectionsService
    from bot.services.ledger import LedgerService
    from bot.services.members import MembersService
    from bot.services.notices import NoticeService
    from bot.services.onboarding import OnboardingService
    from bot.services.operations import OperationsService
    from bot.services.outbox import Outbox
    from bot.services.patrols import PatrolService
    from bot.services.points import PointsService
    from bot.services.referrals import ReferralService
    from bot.services.relays import RelayService
    from bot.services.reporting import ReportingService
    from bot.services.scores import ScoresService
    from bot.services.surveys import SurveysService
    from bot.services.triage import TriageService
    from bot.services.web import WebService

    load_all()
    members = MembersService(session, clock, settings.admin_ids)
    outbox = Outbox(session, clock)
    chats = ChatsService(session, clock, members)
    common = (session, clock, members, chats, outbox)
    cards = CardService(*common)
    reporting = ReportingService(*common, cards)
    return Services(
        outbox=outbox,
        members=members,
        chats=chats,
        onboarding=OnboardingService(*common),
        background=BackgroundService(session, clock),
        households=HouseholdsService(session, clock),
        ledger=LedgerService(session, clock),
        operations=OperationsService(session, clock),
        board=BoardService(session, clock),
        consultations=ConsultationsService(session, clock),
        web=WebService(session, clock),
        cards=cards,
        reporting=reporting,
        triage=TriageService(*common, cards),
        cleaning=CleaningService(*common),
        announcements=AnnouncementsService(*common),
        patrols=PatrolService(*common),
        digests=DigestService(*common),
        surveys=SurveysService(*common),
        notices=NoticeService(*common, cards),
        referrals=ReferralService(*common, cards),
        relays=RelayService(*common, cards),
        campaigns=CampaignsService(*common),
        inspections=InspectionsService(*common, reporting),
        scores=ScoresService(*common),
        points=PointsService(*common),
    )
