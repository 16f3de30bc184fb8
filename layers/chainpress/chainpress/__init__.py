"""chainpress: serverless publishing engine for a blockchain news site.

The pure core (content, markdown, render, pages, settings, model) never imports boto3;
AWS adapters live in ``chainpress.aws`` and are wired by the handlers in ``functions/``.
"""

__version__ = "0.1.0"
