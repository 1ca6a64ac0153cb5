"""The message mix of the webhook benchmark: what residents of the demo community write.

About half policy questions, half reports (every report names one of the demo buildings 1-9号楼,
so it opens or joins a case routed to a grid worker). Senders are drawn from a pool of openids;
the mix is reproducible (seeded).
"""

from __future__ import annotations

import random
import string

QUESTIONS = (
    "低保怎么申请",
    "居住证怎么办",
    "残疾证怎么办",
    "高龄津贴怎么领",
    "身份证丢了怎么补办",
    "电动车在哪充电",
    "家庭医生怎么签约",
    "新生儿怎么上户口",
    "养狗要登记吗",
    "大件垃圾怎么扔",
    "异地就医怎么报销",
    "医保怎么缴费",
    "孩子上学怎么报名",
    "失业了能领失业金吗",
    "装修要备案吗",
    "租房要登记吗",
    "物业费不交可以吗",
    "晚上几点以后不能装修",
    "接到诈骗电话怎么办",
    "想当志愿者怎么报名",
    "居委会几点上班",
    "社区开证明要带什么",
)

# {b}: building 1 to 9, {u}: unit 1 to 4.
REPORTS = (
    "{b}号楼楼道灯坏了",
    "{b}号楼门口垃圾没人清运",
    "{b}号楼{u}单元电梯坏了",
    "{b}号楼下水道堵了",
    "{b}号楼楼上漏水",
    "{b}号楼有人占用消防通道",
    "{b}号楼门口路灯不亮",
    "{b}号楼楼下有人晚上施工很吵",
    "{b}号楼楼道里堆满杂物",
    "{b}号楼{u}单元自来水没水了",
    "{b}号楼门禁坏了关不上",
    "{b}号楼楼下狗叫一晚上",
    "{b}号楼化粪池满了往外冒",
    "{b}号楼楼道里有人给电动车充电",
)


def openids(count: int, seed: int = 7) -> list[str]:
    """WeChat-looking openids (28 characters, o + 27), stable for a seed."""
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + "-_"
    return ["o" + "".join(rng.choice(alphabet) for _ in range(27)) for _ in range(count)]


class Mix:
    """An endless, reproducible stream of (openid, kind, text)."""

    def __init__(self, senders: int = 1000, report_share: float = 0.5, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.senders = openids(senders, seed)
        self.report_share = report_share

    def next(self) -> tuple[str, str, str]:
        rng = self.rng
        sender = rng.choice(self.senders)
        if rng.random() < self.report_share:
            text = rng.choice(REPORTS).format(b=rng.randint(1, 9), u=rng.randint(1, 4))
            return sender, "report", text
        return sender, "question", rng.choice(QUESTIONS)
