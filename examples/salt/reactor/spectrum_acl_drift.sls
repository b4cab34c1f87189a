{#- Reactor for spectrum_acl/drift: fired by the spectrum_acl beacon and by spectrum_acl.audit_drift
    on an edge minion when an app of its deployed edge config no longer passes the guard.
    Wire it up in the master config (examples/master.d/reactor.conf):

      reactor:
        - 'spectrum_acl/drift':
          - salt://reactor/spectrum_acl_drift.sls

    1. Apply the guarded edge state again on that minion. What still passes is rendered again
       (stale DNS pins are refreshed); what no longer passes is refused, and the deployed file
       stays byte-identical, so the edge keeps serving the config that was last judged whole.
    2. Fire spectrum_acl/alert on the master event bus with what drifted, for the alerting
       hook to pick up (a reactor of its own, an engine, or `salt-run state.event`).

    data['id'] is the minion the master authenticated the event from; the audit's payload is
    data['data'] (the minion's own report: every value is quoted with | json, never spliced). -#}
{%- set report = data.get('data') if data.get('data') is mapping else {} %}

spectrum-acl-drift-reapply:
  local.state.apply:
    - tgt: {{ data['id'] | json }}
    - tgt_type: list
    - args:
      - mods: edge

spectrum-acl-drift-alert:
  runner.event.send:
    - args:
      - tag: spectrum_acl/alert
      - data:
          minion: {{ data['id'] | json }}
          source: {{ report.get('source') | json }}
          config_path: {{ report.get('config_path') | json }}
          causes: {{ report.get('causes', []) | json }}
          drifted: {{ report.get('drifted', []) | json }}
          action: "state.apply edge: refused drifted apps keep the deployed config as it was"
