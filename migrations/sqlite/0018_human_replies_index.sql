-- The channel dispatcher looks for human replies written in the last hours that no channel
-- send carries yet (engine/src/store/channels.rs, `pending_human_replies`), every few seconds.
-- Without an index that was a scan of the whole messages table each time, a cost growing
-- with every message ever stored; this partial index holds only the human replies, by time.
create index messages_human_created on messages (created_at) where role = 'human';
