from simulation.subsystems.instances import Instance, InstanceFeed


def test_feed_calls_subscribers_in_order_and_marks_the_instance():
    feed, seen = InstanceFeed(), []
    feed.subscribe(on_launch=lambda i: seen.append(("launch", i.id)))
    feed.subscribe(
        on_network_ready=lambda i: seen.append(("ready", i.id, i.network_ready_at)),
        on_terminate=lambda i: seen.append(("gone", i.id, i.running)),
    )
    inst = Instance(7, "az1", launched_at=10.0)
    feed.launched(inst)
    assert not inst.network_ready
    feed.network_ready(inst, 25.0)
    feed.terminated(inst, 40.0)
    assert seen == [("launch", 7), ("ready", 7, 25.0), ("gone", 7, False)]
    assert inst.network_ready and not inst.running
