"""The journey events the supervision service publishes (its catalogue)."""

from shared.events.contract import Catalogue

catalogue = Catalogue("supervision")
