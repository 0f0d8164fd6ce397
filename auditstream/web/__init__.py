"""The web application: JSON API, auditor's console, metrics and health in one ASGI app
(`app.create_app`), served by uvicorn (`server`)."""
