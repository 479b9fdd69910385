"""FSM storage on the project's own database, so a half-finished conversation survives a restart."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import current_session
from models import FsmRecord, utcnow


def storage_key(key: StorageKey) -> str:
    """The row key of a chat's state (also read by bot/services/update_context.py with the member)."""
    parts = [str(key.bot_id), str(key.chat_id), str(key.user_id)]
    if key.thread_id:
        parts.append(f"t{key.thread_id}")
    if key.business_connection_id:
        parts.append(f"b{key.business_connection_id}")
    if key.destiny != "default":
        parts.append(key.destiny)
    return ":".join(parts)


class _Use:
    """The update's own session when inside a handler (no commit: it joins that transaction),
    otherwise a short session of our own."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.own: AsyncSession | None = None

    async def __aenter__(self) -> AsyncSession:
        shared = current_session.get()
        if shared is not None:
            return shared
        self.own = self.sessions()
        return self.own

    async def __aexit__(self, *exc: object) -> None:
        if self.own is not None:
            if exc[0] is None:
                await self.own.commit()
            await self.own.close()


class SqlStorage(BaseStorage):
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        async with _Use(self.sessions) as session:
            record = await session.get(FsmRecord, storage_key(key))
            if record is None:
                if value is None:
                    return
                session.add(FsmRecord(key=storage_key(key), state=value, data={}, updated_at=utcnow()))
                await session.flush()  # autoflush is off: a set_data in the same update must see it
            else:
                record.state = value
                if value is None and not record.data:
                    await session.delete(record)
                    # Flushed now: a set_state/set_data later in the same update (clear, then start the
                    # next conversation) must find no row and write a new one, not edit a doomed one.
                    await session.flush()

    async def get_state(self, key: StorageKey) -> str | None:
        async with _Use(self.sessions) as session:
            record = await session.get(FsmRecord, storage_key(key))
            return record.state if record else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        async with _Use(self.sessions) as session:
            record = await session.get(FsmRecord, storage_key(key))
            if record is None:
                if not data:
                    return
                session.add(FsmRecord(key=storage_key(key), state=None, data=dict(data), updated_at=utcnow()))
                await session.flush()  # autoflush is off: a set_state in the same update must see it
            else:
                record.data = dict(data)
                if not data and record.state is None:
                    await session.delete(record)
                    await session.flush()  # as in set_state: a later write in this update starts afresh

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        async with _Use(self.sessions) as session:
            record = await session.get(FsmRecord, storage_key(key))
            return dict(record.data) if record and record.data else {}

    async def close(self) -> None:
        return None
