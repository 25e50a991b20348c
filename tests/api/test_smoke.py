from __future__ import annotations


def test_issue_and_verify(client, batch, issue):
    codes = issue(batch["id"], 3)
    assert len(codes) == 3
    response = client.get(codes[0]["uri"].replace("https://passport.test", ""), headers={"Accept": "application/json"})
    assert response.status_code == 200
    assert response.json()["verdict"] == "authentic"
