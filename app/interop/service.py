"""XLSForm export of a cluster's effective scorecard for one round."""

from sqlmodel import Session

from app.clusters import service as clusters
from app.clusters.models import Cluster
from app.interop.logic import XlsForm, build_xlsform
from app.rounds.models import Round


def xlsform(session: Session, cluster: Cluster, round_: Round) -> XlsForm:
    """The same member questions and CSF ratings as the web form, in every language of the template."""
    assert cluster.id is not None and round_.id is not None and round_.cluster_id == cluster.id
    languages = list(clusters.template_spec(session, cluster).languages)
    scorecards = {lang: clusters.scorecard(session, cluster, lang=lang) for lang in languages}
    return build_xlsform(
        scorecards,
        form_id=f"clusterscore_c{cluster.id}_r{round_.id}",
        title=f"{cluster.name} – {round_.label}",
        languages=languages,
    )
