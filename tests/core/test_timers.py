"""TimerHeap: due times in one heap fired by one process."""

from __future__ import annotations

import simpy

from simulation.core.timers import TimerHeap


def test_fires_in_time_then_key_order_and_an_earlier_push_wakes_it():
    env = simpy.Environment()
    fired: list[tuple[float, str]] = []
    timers = TimerHeap(env, lambda item: fired.append((env.now, item)))
    timers.push(50.0, 2, "late")
    timers.push(10.0, 9, "tie-b")
    timers.push(10.0, 1, "tie-a")
    env.run(until=5)
    timers.push(7.0, 3, "pushed while asleep until 10")  # wakes the sleeper
    env.run(until=100)
    assert fired == [
        (7.0, "pushed while asleep until 10"),
        (10.0, "tie-a"),
        (10.0, "tie-b"),
        (50.0, "late"),
    ]
    assert len(timers) == 0


def test_a_timer_pushed_while_firing_for_now_fires_at_once():
    env = simpy.Environment()
    fired: list[tuple[float, int]] = []

    def fire(i: int) -> None:
        fired.append((env.now, i))
        if i == 1:
            timers.push(env.now, 2, 2)
            timers.push(env.now + 5, 3, 3)

    timers = TimerHeap(env, fire)
    timers.push(1.0, 1, 1)
    env.run(until=20)
    assert fired == [(1.0, 1), (1.0, 2), (6.0, 3)]
