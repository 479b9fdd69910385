from tests.conftest import BotHarness


async def test_start_new_person_sees_communities(harness: BotHarness, community) -> None:
    ann = harness.up.user(5001, "Ann", "en")
    await harness.feed(harness.up.text(ann, "/start"))
    texts = harness.tg.texts(5001)
    assert any("Hi Ann" in t for t in texts)
    assert "Which community" in texts[-1]
    assert "Nanchi Community" in harness.tg.buttons(harness.tg.last(5001))[0]
