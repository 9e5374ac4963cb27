namespace PgRuntimeAgent.Sensing.Postgres;

/// <summary>Where a probe can run.</summary>
public enum ProbeScope
{
    Any,
    PrimaryOnly,
    ReplicaOnly,
}

/// <summary>A named read-only query with a cost budget (milliseconds of database time it should stay under).</summary>
/// <param name="PerDatabase">
/// The query reads one database's catalog or statistics (tables, indexes): it runs in the sensing database and in each
/// of the cluster's pg_databases, and every row carries a <c>datname</c> column.
/// </param>
public sealed record PostgresProbe(string Name, string Description, string Sql, int BudgetMs, ProbeScope Scope = ProbeScope.Any, string? RequiresExtension = null,
    bool PerDatabase = false);

/// <summary>
/// Every query the Postgres sensor runs, in order. Each is cheap (catalog views, no table scans), read-only and
/// bounded by LIMIT; query texts are cut to 200 characters and their literals masked before they leave.
/// </summary>
public static class PostgresProbeCatalogue
{
    public static IReadOnlyList<PostgresProbe> All { get; } =
    [
        new("server", "Version, role, uptime and installed monitoring extensions.",
            """
            select current_setting('server_version_num')::int as server_version_num,
                   pg_is_in_recovery() as in_recovery,
                   extract(epoch from now() - pg_postmaster_start_time())::float8 as uptime_seconds,
                   exists (select 1 from pg_extension where extname = 'pg_stat_statements') as has_pg_stat_statements
            """, 5),
        new("wal_position", "The member's WAL positions and replay delay.",
            """
            select case when pg_is_in_recovery() then null else pg_current_wal_lsn()::text end as current_lsn,
                   pg_last_wal_receive_lsn()::text as receive_lsn,
                   pg_last_wal_replay_lsn()::text as replay_lsn,
                   case when pg_is_in_recovery() then extract(epoch from now() - pg_last_xact_replay_timestamp())::float8 end as replay_delay_seconds
            """, 5),
        new("connections", "Backends per state against max_connections.",
            """
            select coalesce(state, backend_type) as state, count(*)::int as count,
                   current_setting('max_connections')::int as max_connections,
                   current_setting('superuser_reserved_connections')::int as reserved
            from pg_stat_activity group by 1 order by 2 desc
            """, 10),
        new("wait_events", "What active sessions wait on.",
            """
            select wait_event_type, wait_event, count(*)::int as count
            from pg_stat_activity
            where state = 'active' and wait_event is not null and pid <> pg_backend_pid()
            group by 1, 2 order by 3 desc limit 10
            """, 10),
        new("long_transactions", "Oldest open transactions.",
            """
            select pid, usename, datname, state, application_name,
                   extract(epoch from now() - xact_start)::float8 as xact_age_seconds,
                   left(query, 200) as query
            from pg_stat_activity
            where xact_start is not null and backend_type = 'client backend' and pid <> pg_backend_pid()
            order by xact_start limit 5
            """, 10),
        new("blocking", "Sessions blocked by others (blocking chains).",
            """
            select pid, pg_blocking_pids(pid)::text as blocked_by, wait_event_type, wait_event,
                   extract(epoch from now() - query_start)::float8 as waiting_seconds,
                   left(query, 200) as query
            from pg_stat_activity
            where cardinality(pg_blocking_pids(pid)) > 0
            order by query_start limit 20
            """, 20),
        new("lock_heads", "Head blockers (blocking others, not blocked themselves) with the sessions queued behind each, direct and transitive, and their longest wait.",
            """
            with recursive waiter as (
                select a.pid, pg_blocking_pids(a.pid) as blocked_by,
                       extract(epoch from now() - coalesce(
                           (select min((to_jsonb(l) ->> 'waitstart')::timestamptz) from pg_locks l where l.pid = a.pid and not l.granted),
                           a.query_start))::float8 as wait_seconds
                from pg_stat_activity a
                where a.wait_event_type = 'Lock' and a.pid <> pg_backend_pid()
                limit 1000
            ), edge as (
                select w.pid as waiter, b.pid as blocker from waiter w cross join lateral unnest(w.blocked_by) as b(pid)
            ), head as (
                select distinct e.blocker as pid from edge e where not exists (select 1 from edge x where x.waiter = e.blocker)
            ), tree as (
                select e.blocker as head, e.waiter as pid, 1 as depth from edge e join head h on h.pid = e.blocker
                union
                select t.head, e.waiter, t.depth + 1 from tree t join edge e on e.blocker = t.pid where t.depth < 8
            ), summary as (
                select t.head, count(distinct t.pid)::int as waiters, count(distinct t.pid) filter (where t.depth = 1)::int as direct_waiters,
                       max(w.wait_seconds) as longest_wait_seconds
                from tree t join waiter w on w.pid = t.pid group by t.head
            )
            select s.head as pid, a.backend_start, a.usename::text as usename, a.application_name, a.state, a.backend_type,
                   extract(epoch from now() - a.xact_start)::float8 as xact_age_seconds,
                   extract(epoch from now() - a.state_change)::float8 as state_age_seconds,
                   s.waiters, s.direct_waiters, s.longest_wait_seconds, left(a.query, 200) as query
            from summary s left join pg_stat_activity a on a.pid = s.head
            order by s.waiters desc, s.longest_wait_seconds desc limit 10
            """, 20),
        new("connection_clients", "Client sessions by state, user and application (top 10 of each) against max_connections and superuser_reserved_connections.",
            """
            with c as (
                select coalesce(state, 'unknown') as state, coalesce(usename::text, '') as usename, coalesce(application_name, '') as application_name
                from pg_stat_activity where backend_type = 'client backend'
            ), g as (
                select 'state' as dimension, state as name, count(*)::int as count,
                       count(*) filter (where state = 'idle in transaction')::int as idle_in_transaction,
                       row_number() over (order by count(*) desc, state) as rank
                from c group by state
                union all
                select 'user', usename, count(*)::int, count(*) filter (where state = 'idle in transaction')::int,
                       row_number() over (order by count(*) desc, usename) from c group by usename
                union all
                select 'application', application_name, count(*)::int, count(*) filter (where state = 'idle in transaction')::int,
                       row_number() over (order by count(*) desc, application_name) from c group by application_name
            )
            select dimension, name, count, idle_in_transaction,
                   current_setting('max_connections')::int as max_connections,
                   current_setting('superuser_reserved_connections')::int as reserved
            from g where rank <= 10 order by dimension, count desc, name
            """, 10),
        new("xmin_horizon", "What holds the xmin horizon back: the oldest client transactions, prepared transactions, replication slots' xmin/catalog_xmin and replicas' hot_standby_feedback xmin.",
            """
            (select 'backend' as kind, a.pid, a.backend_start, a.usename::text as usename, a.application_name, a.state,
                    null::text as gid, null::text as slot_name,
                    greatest(age(a.backend_xmin), age(a.backend_xid))::bigint as xmin_age,
                    extract(epoch from now() - a.xact_start)::float8 as age_seconds,
                    extract(epoch from now() - a.state_change)::float8 as state_age_seconds,
                    left(a.query, 200) as query
             from pg_stat_activity a
             where (a.backend_xmin is not null or a.backend_xid is not null) and a.xact_start is not null
               and a.backend_type = 'client backend' and a.pid <> pg_backend_pid()
             order by a.xact_start limit 3)
            union all
            (select 'prepared', null, null, p.owner::text, null, null, p.gid, null, age(p.transaction)::bigint,
                    extract(epoch from now() - p.prepared)::float8, null, null
             from pg_prepared_xacts p order by p.prepared limit 3)
            union all
            (select 'slot', null, null, null, null, case when s.active then 'active' else 'inactive' end, null, s.slot_name::text,
                    greatest(age(s.xmin), age(s.catalog_xmin))::bigint, null, null, null
             from pg_replication_slots s where s.xmin is not null or s.catalog_xmin is not null order by 9 desc limit 3)
            union all
            (select 'replica', r.pid, r.backend_start, r.usename::text, r.application_name, r.state, null, null, age(r.backend_xmin)::bigint,
                    null, null, null
             from pg_stat_replication r where r.backend_xmin is not null order by 9 desc limit 3)
            """, 10),
        new("replication", "Replicas streaming from this member and their lag.",
            """
            select application_name, client_addr::text as client_addr, state, sync_state,
                   sent_lsn::text as sent_lsn, replay_lsn::text as replay_lsn,
                   pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint as replay_lag_bytes,
                   extract(epoch from replay_lag)::float8 as replay_lag_seconds
            from pg_stat_replication order by application_name
            """, 10, ProbeScope.PrimaryOnly),
        new("wal_receiver", "This replica's WAL receiver.",
            """
            select status, sender_host, sender_port, received_tli,
                   latest_end_lsn::text as latest_end_lsn,
                   extract(epoch from now() - last_msg_receipt_time)::float8 as last_msg_age_seconds
            from pg_stat_wal_receiver
            """, 5, ProbeScope.ReplicaOnly),
        new("replication_slots", "Slots and the WAL they retain.",
            """
            select slot_name, slot_type, active, wal_status,
                   case when pg_is_in_recovery() then null
                        else pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint end as retained_bytes
            from pg_replication_slots order by slot_name
            """, 10),
        new("archiver", "WAL archiving counters.",
            """
            select archived_count, failed_count, last_archived_wal, last_failed_wal,
                   extract(epoch from now() - last_archived_time)::float8 as last_archived_age_seconds,
                   extract(epoch from now() - last_failed_time)::float8 as last_failed_age_seconds
            from pg_stat_archiver
            """, 5),
        new("xid_age", "Transaction ID age per database (wraparound distance).",
            """
            select datname, age(datfrozenxid)::bigint as xid_age, mxid_age(datminmxid)::bigint as mxid_age
            from pg_database where datallowconn order by 2 desc
            """, 10),
        new("settings", "Key settings and whether a restart is pending.",
            """
            select name, setting, unit, pending_restart from pg_settings
            where name in ('max_connections','shared_buffers','work_mem','maintenance_work_mem','max_wal_size','wal_level',
                           'archive_mode','synchronous_commit','synchronous_standby_names','hot_standby','max_replication_slots',
                           'max_wal_senders','statement_timeout','idle_in_transaction_session_timeout','autovacuum',
                           'log_min_duration_statement','max_slot_wal_keep_size','wal_keep_size',
                           'autovacuum_freeze_max_age','autovacuum_multixact_freeze_max_age','autovacuum_max_workers')
               or pending_restart
            order by name
            """, 10),
        new("statements_top", "Top statements by total time since the statistics were reset (pg_stat_statements 1.9+, leader only), with the reset time and the sum of squared times (for a window's spread).",
            """
            select s.queryid::text as queryid, min(d.datname)::text as datname, sum(s.calls)::int8 as calls,
                   round(sum(s.total_exec_time)::numeric, 3)::float8 as total_exec_ms,
                   round((sum(s.total_exec_time) / nullif(sum(s.calls), 0))::numeric, 3)::float8 as mean_exec_ms,
                   sum(s.calls * (s.stddev_exec_time * s.stddev_exec_time + s.mean_exec_time * s.mean_exec_time))::float8 as sumsq_exec_ms2,
                   sum(s.rows)::int8 as rows, sum(s.shared_blks_hit)::int8 as shared_blks_hit, sum(s.shared_blks_read)::int8 as shared_blks_read,
                   (select i.stats_reset from pg_stat_statements_info i) as stats_reset,
                   left(min(s.query), 200) as query
            from pg_stat_statements s left join pg_database d on d.oid = s.dbid
            where s.queryid is not null
            group by s.queryid order by sum(s.total_exec_time) desc limit 20
            """, 50, ProbeScope.PrimaryOnly, "pg_stat_statements"),
        new("table_scans", "Tables by rows read in sequential scans, with index scans and live rows (leader only).",
            """
            select schemaname, relname, n_live_tup, seq_scan, seq_tup_read, coalesce(idx_scan, 0) as idx_scan
            from pg_stat_user_tables order by seq_tup_read desc limit 20
            """, 20, ProbeScope.PrimaryOnly, PerDatabase: true),
        new("table_stats", "Tables with the most dead tuples, with seq vs index scans.",
            """
            select schemaname, relname, n_live_tup, n_dead_tup, seq_scan, seq_tup_read, idx_scan,
                   extract(epoch from now() - greatest(last_autovacuum, last_vacuum))::float8 as vacuum_age_seconds
            from pg_stat_user_tables order by n_dead_tup desc, seq_tup_read desc limit 10
            """, 20, PerDatabase: true),
        new("indexes_unused", "Valid indexes never scanned on this member since its statistics began (not unique, no constraint), largest first, with the age of that window.",
            """
            select s.schemaname, s.relname, s.indexrelname, s.idx_scan, pg_relation_size(s.indexrelid)::bigint as size_bytes,
                   extract(epoch from now() - greatest((select d.stats_reset from pg_stat_database d where d.datname = current_database()),
                                                       pg_postmaster_start_time()))::float8 as stats_age_seconds
            from pg_stat_user_indexes s join pg_index i on i.indexrelid = s.indexrelid
            where s.idx_scan = 0 and i.indisvalid and not i.indisunique and not i.indisprimary
              and not exists (select 1 from pg_constraint k where k.conindid = s.indexrelid)
            order by 5 desc, 1, 3 limit 20
            """, 20, PerDatabase: true),
        new("indexes_duplicate", "B-tree indexes whose keys repeat, or are a leading prefix of, another valid index of the same table (same operator classes, collations and order; no predicate or expression), each with the index that covers it.",
            """
            select * from (
            select distinct on (i.indexrelid) n.nspname as schemaname, t.relname, c.relname as indexrelname, c2.relname as covered_by,
                   case when i.indnkeyatts = i2.indnkeyatts then 'duplicate' else 'prefix' end as kind,
                   pg_relation_size(i.indexrelid)::bigint as size_bytes
            from pg_index i
            join pg_index i2 on i2.indrelid = i.indrelid and i2.indexrelid <> i.indexrelid
            join pg_class c on c.oid = i.indexrelid join pg_class c2 on c2.oid = i2.indexrelid
            join pg_class t on t.oid = i.indrelid join pg_namespace n on n.oid = t.relnamespace
            where i.indisvalid and i2.indisvalid and not i.indisunique and not i.indisprimary
              and i.indnatts = i.indnkeyatts and i.indnkeyatts <= i2.indnkeyatts
              and c.relam = (select oid from pg_am where amname = 'btree') and c2.relam = c.relam
              and i.indpred is null and i2.indpred is null and i.indexprs is null and i2.indexprs is null
              and (string_to_array(i2.indkey::text, ' '))[1:i.indnkeyatts] = string_to_array(i.indkey::text, ' ')
              and (string_to_array(i2.indclass::text, ' '))[1:i.indnkeyatts] = string_to_array(i.indclass::text, ' ')
              and (string_to_array(i2.indcollation::text, ' '))[1:i.indnkeyatts] = string_to_array(i.indcollation::text, ' ')
              and (string_to_array(i2.indoption::text, ' '))[1:i.indnkeyatts] = string_to_array(i.indoption::text, ' ')
              and (i.indnkeyatts < i2.indnkeyatts or i2.indisunique or i.indexrelid > i2.indexrelid)
              and not exists (select 1 from pg_constraint k where k.conindid = i.indexrelid)
              and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast'
            order by i.indexrelid, (i.indnkeyatts = i2.indnkeyatts) desc, i2.indisunique desc, i2.indexrelid
            ) d order by size_bytes desc, schemaname, indexrelname limit 20
            """, 20, ProbeScope.PrimaryOnly, PerDatabase: true),
        new("indexes_invalid", "Invalid indexes (a failed CREATE INDEX CONCURRENTLY) and whether a build of it is still running.",
            """
            select n.nspname as schemaname, c.relname as indexrelname, t.relname as relname,
                   pg_relation_size(c.oid)::bigint as size_bytes,
                   exists (select 1 from pg_stat_progress_create_index p where p.index_relid = i.indexrelid) as building
            from pg_index i join pg_class c on c.oid = i.indexrelid join pg_namespace n on n.oid = c.relnamespace
                 join pg_class t on t.oid = i.indrelid
            where not i.indisvalid order by 1, 2 limit 20
            """, 10, PerDatabase: true),
        new("autovacuum", "Autovacuum workers busy against autovacuum_max_workers, and the longest-running vacuum.",
            """
            select count(*) filter (where a.backend_type = 'autovacuum worker')::int as workers,
                   current_setting('autovacuum_max_workers')::int as max_workers,
                   max(extract(epoch from now() - a.xact_start)) filter (where a.backend_type = 'autovacuum worker')::float8 as longest_seconds,
                   (select case when p.datname = current_database() then p.relid::regclass::text else p.datname || ': relation ' || p.relid end
                    from pg_stat_progress_vacuum p join pg_stat_activity v on v.pid = p.pid
                    order by v.xact_start limit 1) as longest_table
            from pg_stat_activity a
            """, 10),
    ];

    public static PostgresProbe? Find(string name) => All.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.Ordinal));
}
