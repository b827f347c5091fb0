from __future__ import annotations


async def test_each_service_is_live_and_ready(app_client, token):
    for name in ("referrals", "supervision", "reporting"):
        client = await app_client(name)
        live = await client.get("/health/live")
        assert live.status_code == 200 and live.json() == {"status": "live"}
        ready = await client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert body["status"] == "ready"
        assert body["migrations"]["current"] == body["migrations"]["head"] is not None
