"""The judge reward behind HTTP (``inkforge serve-reward``), its client, and the trainers' protocols.

Modules, one concept each:

* :mod:`~inkforge.rewards.serving.server`: :class:`RewardServer`, the HTTP service (``/score``,
  ``/get_reward``, ``/health``, ``/metrics``);
* :mod:`~inkforge.rewards.serving.client`: :class:`RemoteJudgeReward`, the TRL reward that scores
  through a server;
* :mod:`~inkforge.rewards.serving.openrlhf`: OpenRLHF's request format (:func:`split_openrlhf`,
  :func:`score_openrlhf`, :func:`label_query`);
* :mod:`~inkforge.rewards.serving.env`: :func:`reward_from_env`, the judge an ``INKFORGE_*``
  environment describes.

The files verl and OpenRLHF load by path are :mod:`inkforge.rewards.verl` and
:mod:`inkforge.rewards.openrlhf`: thin entry points over the modules above.

Example:
    >>> from inkforge.rewards.serving import RemoteJudgeReward
    >>> RemoteJudgeReward("http://127.0.0.1:8123/score").url
    'http://127.0.0.1:8123'
"""

from inkforge.rewards.serving.client import RemoteJudgeReward
from inkforge.rewards.serving.env import reward_from_env
from inkforge.rewards.serving.openrlhf import label_query, score_openrlhf, split_openrlhf
from inkforge.rewards.serving.server import RewardServer

__all__ = ["RemoteJudgeReward", "RewardServer", "label_query", "reward_from_env", "score_openrlhf", "split_openrlhf"]
