-- Channel sends whose outcome is unknown (reliability issue 12): an attempt that may have
-- reached the provider without its answer reaching us (the process died mid-send, or the
-- provider answered too late). Such a send is not simply tried again: the provider is asked
-- first whether it already has the message (`engine::channels::outbound`), and when the
-- provider cannot be asked the send ends `unconfirmed` instead of risking a second copy.
alter table channel_outbox add column in_doubt bigint not null default 0;
