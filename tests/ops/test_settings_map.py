# ruff: noqa: E501 - one setting and its test node ids per line read better unwrapped
"""Every setting acts (issue 13): each key of the typed settings (the keys of
``config/*.yaml`` and those a deployment adds) is mapped to the test that proves it acts,
and a setting added without one fails `test_every_setting_has_a_test_that_proves_it_acts`.

The settings that had no such test before this audit get one here: the dialer's plan
(reminder offsets, no-show delay, retry delay, attempts), its trunk, caller id and health
threshold; the endpointer, streaming and recogniser settings; the STIR/SHAKEN signer and
verifier settings; the SIP session timer; the residency regions; and, through the real
stack ``carrier serve`` builds (``running_stack``), the pool sizes, the periodic signed
checkpoint, the clinic file and the human queue.
"""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import datetime as dt
import json
import shutil
import typing
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from agent.runtime import endpoint_config as speech_endpoint_config
from agent.runtime import streaming_config, stt_config
from carrier.dialer.campaign import Step, after_dial, plan_no_show, plan_reminders
from carrier.dialer.ports import Outcome
from carrier.dialer.service import DialerService
from carrier.dialer.wiring import policy_from_settings
from carrier.errors import ConfigError
from carrier.gateway_parts import endpoint_config
from carrier.plugin import AppointmentFact, AppointmentState
from carrier.settings import Settings, load_settings
from carrier.sip.endpoint import SipEndpoint
from carrier.stir_setup import build_stir
from stir_shaken import devca
from stir_shaken.errors import SigningError

REPO = Path(__file__).resolve().parents[2]
T = "tests/"

# setting -> the test(s) that prove it acts (file::function, a parametrised test by name).
ACTS: dict[str, tuple[str, ...]] = {
    "data_dir": ("ops/test_settings_reach.py::test_retention_and_anchor_follow_the_settings",
                 "deploy/test_wheel.py::test_installed_wheel_defaults_point_inside_the_install"),
    "clinic_file": ("ops/test_settings_map.py::test_the_stack_serve_builds_follows_its_settings",),
    "config_dir": ("deploy/test_wheel.py::test_installed_wheel_reads_its_settings_from_the_config_folder",),
    "database.url": ("ops/test_bad_input.py::test_version_and_json",),
    "database.region": ("config/test_settings.py::test_residency_refuses_external_database_region",),
    "database.pool_min": ("ops/test_settings_map.py::test_the_stack_serve_builds_follows_its_settings",),
    "database.pool_max": ("ops/test_settings_map.py::test_the_stack_serve_builds_follows_its_settings",),
    "database.command_timeout_s": ("ops_runtime/test_serve_ops.py::test_health_names_every_component_and_what_failed",),
    "keys.kek_file": ("ops_runtime/test_settings_act.py::test_kek_env_names_the_variable_and_kek_file_the_file",),
    "keys.kek_env": ("ops_runtime/test_settings_act.py::test_kek_env_names_the_variable_and_kek_file_the_file",),
    "keys.audit_signing_key": ("ops/test_bad_input.py::test_signing_key_that_is_a_certificate",),
    "keys.checkpoints_file": ("ops/test_settings_reach.py::test_retention_and_anchor_follow_the_settings",),
    "keys.checkpoint_interval_s": ("ops/test_settings_map.py::test_the_stack_serve_builds_follows_its_settings",),
    "sip.bind_host": ("gateway/test_gateway_settings.py::test_loopback_without_certificate_gets_a_self_signed_tls_listener",),
    "sip.udp_port": ("dialer/test_outage.py::test_carrier_health_exits_non_zero_naming_the_failed_component",),
    "sip.tcp_port": ("deploy/test_kamailio_two_nodes.py::test_two_nodes_behind_kamailio",),
    "sip.tls_port": ("gateway/test_gateway_settings.py::test_loopback_without_certificate_gets_a_self_signed_tls_listener",),
    "sip.tls_cert": ("gateway/test_gateway_settings.py::test_tls_off_or_with_files_loads_off_loopback",
                     "gateway/test_gateway_pjsua.py"),
    "sip.tls_key": ("gateway/test_gateway_settings.py::test_tls_off_or_with_files_loads_off_loopback",),
    "sip.rtp_port_min": ("gateway/test_gateway_settings.py::test_rtp_port_range_is_where_calls_bind",),
    "sip.rtp_port_max": ("gateway/test_gateway_settings.py::test_rtp_port_range_is_where_calls_bind",),
    "sip.max_concurrent_calls": ("gateway/test_gateway_settings.py::test_max_concurrent_calls_acts",),
    "sip.max_calls_per_second": ("gateway/test_gateway_settings.py::test_calls_per_second_acts",),
    "sip.session_expires_s": ("ops/test_settings_map.py::test_session_expires_reaches_the_user_agent",),
    "sip.drain_timeout_s": ("ops_runtime/test_serve_ops.py::test_drain_limit_ends_a_call_that_outlasts_it",),
    "sip.drain_retry_after_s": ("ops_runtime/test_serve_ops.py::test_sigterm_drains_then_exits_zero",),
    "sip.max_inbound_call_s": ("gateway/test_gateway_calls.py::test_an_inbound_call_has_a_length_limit_too",
                               "config/test_settings.py::test_an_inbound_call_limit_under_a_minute_is_refused"),
    "trunks[].name": ("ops/test_bad_input.py::test_bad_operator_input_is_one_line",),
    "trunks[].host": ("ops_runtime/test_serve_ops.py::test_trunk_registers_and_refreshes_and_keepalives_flow",),
    "trunks[].region": ("config/test_settings.py::test_residency_refuses_non_us_trunk",),
    "trunks[].port": ("ops_runtime/test_serve_ops.py::test_trunk_registers_and_refreshes_and_keepalives_flow",),
    "trunks[].transport": ("gateway/test_gateway_pjsua.py",),
    "trunks[].auth": ("ops_runtime/test_serve_ops.py::test_trunk_registers_and_refreshes_and_keepalives_flow",),
    "trunks[].username": ("ops_runtime/test_serve_ops.py::test_trunk_registers_and_refreshes_and_keepalives_flow",),
    "trunks[].password_env": ("ops/test_config_check.py::test_bad_config_is_one_line_naming_file_and_key",
                              "ops_runtime/test_serve_ops.py::test_trunk_registers_and_refreshes_and_keepalives_flow"),
    "trunks[].acl": ("records/test_live_faults.py::test_hostile_call_id_does_not_stop_call_handling",
                     "sip/test_sip_refusal_gateway.py::test_hostile_call_id_and_refusal_flood_leave_the_audit_log_whole"),
    "trunks[].numbers": ("ops/test_config_check.py::test_bad_config_is_one_line_naming_file_and_key",),
    "trunks[].max_concurrent_calls": ("gateway/test_gateway_settings.py::test_max_concurrent_calls_acts",),
    "trunks[].calls_per_second": ("gateway/test_gateway_settings.py::test_calls_per_second_acts",
                                  "dialer/test_trunk_cps_sipp.py::test_trunk_cps_limit_answers_the_excess_with_503"),
    "trunks[].failover": ("dialer/test_operator_call.py", "dialer/test_trunks.py::test_chain_follows_failover_links_once"),
    "trunks[].stir_inbound_policy": ("gateway/test_gateway_stir.py",),
    "trunks[].srtp": ("gateway/test_gateway_pjsua.py",),
    "trunks[].options_keepalive_s": ("ops_runtime/test_serve_ops.py::test_trunk_registers_and_refreshes_and_keepalives_flow",),
    "trunks[].register_expires_s": ("ops_runtime/test_serve_ops.py::test_trunk_registers_and_refreshes_and_keepalives_flow",),
    "trunks[].campaign_id": ("dialer/test_screening_outreach.py",),
    "stir.enabled": ("ops/test_settings_map.py::test_stir_settings_reach_the_signer_and_verifier",),
    "stir.key_file": ("ops/test_settings_map.py::test_stir_settings_reach_the_signer_and_verifier",),
    "stir.x5u": ("ops/test_settings_map.py::test_stir_settings_reach_the_signer_and_verifier",),
    "stir.certificate_repository_region": ("ops/test_settings_map.py::test_residency_regions_decide_what_loads",),
    "stir.trust_anchors": ("ops/test_settings_map.py::test_stir_settings_reach_the_signer_and_verifier",),
    "stir.own_numbers": ("gateway/test_gateway_stir.py",),
    "stir.customer_numbers": ("ops/test_settings_map.py::test_stir_settings_reach_the_signer_and_verifier",),
    "stir.freshness_s": ("ops/test_settings_map.py::test_stir_settings_reach_the_signer_and_verifier",),
    "stir.max_skew_s": ("ops/test_settings_map.py::test_stir_settings_reach_the_signer_and_verifier",),
    "stir.rcd_names": ("ops/test_settings_map.py::test_stir_settings_reach_the_signer_and_verifier",),
    "stir.x5u_allowed_ports": ("ops/test_settings_map.py::test_stir_settings_reach_the_signer_and_verifier",),
    "speech.stt_model_dir": ("ops/test_settings_map.py::test_speech_settings_reach_the_endpointer_and_recogniser",),
    "speech.stt_device": ("ops/test_settings_map.py::test_stt_device_and_compute_type_load_the_model_so",),
    "speech.stt_compute_type": ("ops/test_settings_map.py::test_stt_device_and_compute_type_load_the_model_so",),
    "speech.stt_quick_model": ("ops/test_settings_map.py::test_stt_quick_model_chooses_the_first_pass_for_judged_answers",
                               "speech/test_quick_model.py::test_the_workers_load_tiny_and_use_it_only_when_asked"),
    "speech.stt_workers": ("ops/test_settings_map.py::test_speech_settings_reach_the_endpointer_and_recogniser",),
    "speech.tts_cache_dir": ("ops/test_live_node.py::test_operator_commands_leave_the_live_database_running",),
    "speech.vad": ("speech/test_vad_setting.py",),
    "speech.vad_aggressiveness": ("ops/test_settings_map.py::test_speech_settings_reach_the_endpointer_and_recogniser",),
    "speech.hangover_ms": ("speech/test_endpoint.py",),
    "speech.min_speech_ms": ("speech/test_endpoint.py",),
    "speech.early_pause_ms": ("ops/test_settings_map.py::test_speech_settings_reach_the_endpointer_and_recogniser",),
    "speech.complete_floor_ms": ("speech/test_turn_end.py",),
    "speech.complete_hangover_ms": ("speech/test_turn_end.py",),
    "speech.turn_end": ("speech/test_turn_end.py",),
    "speech.incomplete_hangover_ms": ("speech/test_turn_end.py",),
    "speech.max_utterance_ms": ("speech/test_endpoint.py",),
    "dialer.enabled": ("ops/test_settings_map.py::test_the_stack_serve_builds_follows_its_settings",
                       "ops_runtime/test_serve_ops.py::test_health_names_every_component_and_what_failed"),
    "dialer.reminder_offsets_h": ("ops/test_settings_map.py::test_dialer_settings_shape_the_plan",),
    "dialer.no_show_delay_min": ("ops/test_settings_map.py::test_dialer_settings_shape_the_plan",),
    "dialer.trunk": ("ops/test_settings_map.py::test_dialer_service_takes_its_trunk_caller_id_and_health_threshold",),
    "dialer.caller_id": ("ops/test_settings_map.py::test_dialer_service_takes_its_trunk_caller_id_and_health_threshold",
                         "compliance/test_caller_id.py"),
    "dialer.retry_delay_min": ("ops/test_settings_map.py::test_dialer_settings_shape_the_plan",),
    "dialer.max_attempts": ("ops/test_settings_map.py::test_dialer_settings_shape_the_plan",),
    "dialer.operator_test_numbers": ("dialer/test_operator_call.py",),
    "retention.audit_days": ("ops_runtime/test_settings_act.py::test_retention_days_decide_what_the_serve_pass_purges",
                             "records/test_retention.py"),
    "retention.consent_days": ("records/test_retention.py",),
    "retention.transcript_days": ("ops_runtime/test_settings_act.py::test_retention_days_decide_what_the_serve_pass_purges",),
    "retention.recording_days": ("ops/test_settings_reach.py::test_retention_and_anchor_follow_the_settings",),
    "retention.dial_evidence_days": ("ops/test_retention_evidence.py::test_the_command_purges_evidence_by_the_settings_and_keeps_what_is_evidence",
                                     "ops/test_retention_evidence.py::test_the_daily_pass_purges_what_the_command_purges"),
    "retention.slot_days": ("records/test_slot_retention.py",),
    "retention.call_record_days": ("ops/test_retention_evidence.py::test_the_command_purges_evidence_by_the_settings_and_keeps_what_is_evidence",
                                   "ops/test_retention_evidence.py::test_the_daily_pass_purges_what_the_command_purges"),
    "residency.allowed_regions": ("ops/test_settings_map.py::test_residency_regions_decide_what_loads",),
    "agent.application": ("deploy/test_kamailio_two_nodes.py::test_two_nodes_behind_kamailio",),
    "agent.demo_call": ("dialer/test_demo_call.py::test_serve_demo_call",),
    "agent.seed_demo": ("ops/test_settings_map.py::test_the_stack_serve_builds_follows_its_settings",
                        "dialer/test_demo_call.py::test_serve_demo_call"),
    "agent.record_audio": ("agent/test_voice_media.py",),
    "agent.human_queue": ("ops/test_settings_map.py::test_the_stack_serve_builds_follows_its_settings",),
    "agent.routes": ("agent/test_contract.py",),
    "agent.queues": ("e2e/test_call_endings_pjsua.py",),
    "health.dialer_max_failures": ("ops/test_settings_map.py::test_dialer_service_takes_its_trunk_caller_id_and_health_threshold",),
    "console.bind_host": ("console/test_tls.py",),
    "console.port": ("ops_runtime/test_serve_ops.py::test_a_call_shows_in_metrics",),
    "console.tls": ("console/test_tls.py",),
    "console.cert_file": ("console/test_tls.py",),
    "console.key_file": ("console/test_tls.py",),
    "console.idle_timeout_s": ("console/test_sessions.py",),
    "console.lockout_failures": ("console/test_auth.py",),
    "console.trusted_proxies": ("console/test_behind_a_proxy.py", "ops_runtime/test_serve_ops.py::test_first_admin_signs_in_to_the_console_serve_runs"),
    "console.lockout_s": ("console/test_auth.py",),
    "console.phi_lookups_per_hour": ("console/test_lookup_budget.py",
                                     "console/test_lookup_budget_durable.py"),
    "console.max_sessions_per_operator": ("console/test_session_cap.py",),
    "webchat.enabled": ("webchat/test_serve_webchat.py::test_serve_mounts_the_page_on_its_own_port",),
    "webchat.bind_host": ("webchat/test_serve_webchat.py::test_serve_mounts_the_page_on_its_own_port",),
    "webchat.port": ("webchat/test_settings_act.py",),
    "webchat.number": ("webchat/test_settings_act.py",),
    "webchat.max_sessions": ("webchat/test_settings_act.py",),
    "webchat.idle_timeout_s": ("webchat/test_settings_act.py",),
    "webchat.requests_per_minute": ("webchat/test_settings_act.py",),
    "webchat.trusted_proxies": ("webchat/test_behind_a_proxy.py",),
    "webchat.max_sessions_per_client": ("webchat/test_behind_a_proxy.py::test_one_client_cannot_take_every_session",),
    "webchat.max_message_chars": ("webchat/test_settings_act.py",),
    "webchat.max_call_s": ("webchat/test_settings_act.py",),
    "logging.format": ("ops_runtime/test_serve_ops.py::test_logs_are_json_with_call_id_and_no_phi",),
    "logging.level": ("ops_runtime/test_serve_ops.py::test_logs_are_json_with_call_id_and_no_phi",),
    "feeds.hl7_enabled": ("feeds/test_feeds_settings_and_commands.py",),
    "feeds.hl7_host": ("feeds/test_feeds_settings_and_commands.py::test_hl7_enabled_listens_inside_serve_with_tls",),
    "feeds.hl7_port": ("feeds/test_feeds_settings_and_commands.py",),
    "feeds.hl7_tls_cert": ("feeds/test_feeds_settings_and_commands.py",),
    "feeds.hl7_tls_key": ("feeds/test_feeds_settings_and_commands.py",),
    "feeds.hl7_max_connections": ("feeds/test_mllp_limits.py",),
    "feeds.hl7_max_connections_per_source": ("feeds/test_mllp_limits.py::test_one_source_cannot_take_every_connection",),
    "feeds.hl7_frame_timeout_s": ("feeds/test_mllp_limits.py::test_a_stalled_frame_is_refused_and_its_connection_closed",),
    "feeds.hl7_idle_timeout_s": ("feeds/test_mllp_limits.py::test_an_idle_connection_is_closed_after_the_idle_timeout",),
    "feeds.timezone": ("feeds/test_feeds_settings_and_commands.py",),
    "feeds.phone_is_consent": ("feeds/test_feeds_settings_and_commands.py",),
    "feeds.writeback_hl7": ("feeds/test_feeds_settings_and_commands.py",),
    "feeds.writeback_hl7_message": ("feeds/test_feeds_settings_and_commands.py",),
    "feeds.writeback_fhir": ("feeds/test_fhir_feed.py",),
    "feeds.fhir_base_url": ("feeds/test_fhir_feed.py",),
    "feeds.fhir_token_url": ("feeds/test_fhir_feed.py",),
    "feeds.fhir_client_id": ("feeds/test_fhir_feed.py",),
    "feeds.fhir_key_file": ("feeds/test_fhir_feed.py",),
    "feeds.fhir_poll_s": ("feeds/test_feeds_settings_and_commands.py",),
    "sms.enabled": ("sms/test_serve_wiring.py",),
    "sms.transport": ("sms/test_serve_sip_message.py",),
    "sms.smsc_host": ("sms/test_cli_e2e.py",),
    "sms.smsc_port": ("sms/test_serve_wiring.py",),
    "sms.smsc_region": ("sms/test_cli_e2e.py",),
    "sms.system_id": ("sms/test_serve_wiring.py",),
    "sms.password_env": ("sms/test_serve_wiring.py",),
    "sms.from_number": ("sms/test_cli_e2e.py",),
    "sms.rate_per_s": ("sms/test_smpp_link.py",),
    "sms.enquire_link_s": ("sms/test_smpp_link.py",),
    "sms.brand": ("sms/test_reminder_e2e.py",),
    "sms.help_number": ("sms/test_reminder_e2e.py",),
    "sms.reminder_template": ("sms/test_cli_e2e.py", "sms/test_reminder_templates.py"),
    "sms.reminder_template_es": ("sms/test_reminder_templates.py",),
    "sms.reminders_by_text_h": ("sms/test_dialer_texts.py",),
    "sms.stop_revokes": ("sms/test_reminder_e2e.py",),
}


def _leaves(cls: type, prefix: str = "") -> Iterator[str]:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        args = typing.get_args(tp)
        inner = args[0] if (typing.get_origin(tp) is tuple and args
                            and dataclasses.is_dataclass(args[0])) else tp
        if dataclasses.is_dataclass(inner):
            sep = "[]." if inner is not tp else "."
            yield from _leaves(inner, prefix + f.name + sep)  # type: ignore[arg-type]
        else:
            yield prefix + f.name


def _functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def test_every_setting_has_a_test_that_proves_it_acts() -> None:
    """The map is complete (every typed setting, no stale key) and names real tests."""
    assert sorted(_leaves(Settings)) == sorted(ACTS)
    problems = []
    for key, nodes in ACTS.items():
        for node in nodes:
            file, _, func = node.partition("::")
            path = (REPO / T / file).resolve()
            if not path.is_file():
                problems.append(f"{key}: {node}: no such file")
            elif func and func not in _functions(path):
                problems.append(f"{key}: {node}: no such test")
            elif not func and key.rsplit(".", 1)[-1] not in path.read_text(encoding="utf-8"):
                problems.append(f"{key}: {node} never names it")  # a whole file must
    assert not problems, "\n".join(problems)


def test_every_key_of_the_shipped_yaml_is_a_typed_setting() -> None:
    """What an operator reads in ``config/carrier.yaml`` is what the map covers."""
    doc = yaml.safe_load((REPO / "config" / "carrier.yaml").read_text(encoding="utf-8"))
    keys = {k for k in _leaves(Settings)}
    for section, value in doc.items():
        if isinstance(value, dict) and f"{section}.{next(iter(value), '')}" in keys:
            for sub in value:
                assert f"{section}.{sub}" in keys, f"{section}.{sub}"
        else:
            assert section in keys, section


# ----------------------------------------------------------------- settings that act


def _settings(tmp_path: Path, env: dict[str, str] | None = None) -> Settings:
    cfg = tmp_path / "config"
    if not cfg.exists():
        shutil.copytree(REPO / "config", cfg)
    return load_settings(cfg, env=env or {})


def test_dialer_settings_shape_the_plan(tmp_path: Path) -> None:
    s = _settings(tmp_path, {"CARRIER_DIALER__REMINDER_OFFSETS_H": "[48, 3]",
                             "CARRIER_DIALER__NO_SHOW_DELAY_MIN": "12",
                             "CARRIER_DIALER__RETRY_DELAY_MIN": "45",
                             "CARRIER_DIALER__MAX_ATTEMPTS": "2"})
    policy = policy_from_settings(s.dialer)
    now = dt.datetime(2026, 11, 17, 15, 0, tzinfo=dt.UTC)
    appt = AppointmentFact("a1", "p1", now + dt.timedelta(days=5), AppointmentState.OPEN)
    planned = plan_reminders([appt], policy, now)
    assert [(p.label, appt.starts_at - p.due_at) for p in planned] == [
        ("48h", dt.timedelta(hours=48)), ("3h", dt.timedelta(hours=3))]
    assert plan_no_show(appt, now, policy).due_at == now + dt.timedelta(minutes=12)
    later = now + dt.timedelta(days=1)
    retry = after_dial(Outcome.NO_ANSWER, 1, later, policy, now)
    assert (retry.step, retry.due_at) == (Step.RETRY, now + dt.timedelta(minutes=45))
    assert after_dial(Outcome.NO_ANSWER, 2, later, policy, now).step is Step.DONE


@pytest.mark.parametrize(("where", "env"), [
    ("yaml", {}),
    ("env", {"CARRIER_DIALER__CALLER_ID": "+15550100177"}),
    ("trunk", {}),
])
def test_an_unquoted_number_is_refused_at_load(tmp_path: Path, where: str,
                                               env: dict[str, str]) -> None:
    """Before: YAML's integer 15550100177 (from an unquoted +15550100177, in a file or a
    ``CARRIER_*`` variable) loaded as the caller id ``15550100177`` and only `config check`
    of a file (not of a variable) noticed."""
    cfg = tmp_path / "config"
    shutil.copytree(REPO / "config", cfg)
    main = cfg / "carrier.yaml"
    if where == "yaml":
        main.write_text(main.read_text().replace('caller_id: "+15550100100"',
                                                 "caller_id: +15550100177"))
    if where == "trunk":
        trunks = cfg / "trunks.yaml"
        trunks.write_text(trunks.read_text().replace('"+15550100101"', "+15550100101"))
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, env=env)
    assert err.value.key == ("trunks[0].numbers[1]" if where == "trunk" else "dialer.caller_id")
    assert "quote it" in err.value.reason


def test_dialer_service_takes_its_trunk_caller_id_and_health_threshold(tmp_path: Path) -> None:
    s = _settings(tmp_path, {"CARRIER_DIALER__CALLER_ID": '"+15550100101"',  # a trunk number
                             "CARRIER_STIR__OWN_NUMBERS": '["+15550100100", "+15550100101"]',
                             "CARRIER_HEALTH__DIALER_MAX_FAILURES": "4"})
    records: Any = SimpleNamespace(pool=None, outbox=None)
    service = DialerService.build(s, records, gateway=SimpleNamespace(),  # type: ignore[arg-type]
                                  appointments=SimpleNamespace())  # type: ignore[arg-type]
    assert service.runner.trunk == s.dialer.trunk == "demo"
    assert service.runner.dialer.caller_id == "+15550100101"  # type: ignore[attr-defined]
    for _ in range(3):
        service.liveness.failure(ConnectionRefusedError())
    assert service.liveness.health().ok  # three failed passes: still within the threshold
    service.liveness.failure(ConnectionRefusedError())
    assert not service.liveness.health().ok


def test_speech_settings_reach_the_endpointer_and_recogniser(tmp_path: Path) -> None:
    s = _settings(tmp_path, {"CARRIER_SPEECH__VAD_AGGRESSIVENESS": "3",
                             "CARRIER_SPEECH__EARLY_PAUSE_MS": "160",
                             "CARRIER_SPEECH__STT_DEVICE": "cpu",
                             "CARRIER_SPEECH__STT_COMPUTE_TYPE": "float32",
                             "CARRIER_SPEECH__STT_WORKERS": "3"})
    assert speech_endpoint_config(s.speech).aggressiveness == 3
    assert streaming_config(s.speech).pause_ms == 160
    model = tmp_path / "model"  # a folder that already holds a complete model is used as is
    model.mkdir()
    (model / "model.bin").write_bytes(b"")
    s = dataclasses.replace(s, speech=dataclasses.replace(s.speech, stt_model_dir=str(model)))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("agent.runtime.whisper_model_dir", lambda folder: folder)
        stt = stt_config(s)
    assert (stt.model_dir, stt.device, stt.compute_type, stt.workers) == (
        model, "cpu", "float32", 3)


def test_stt_quick_model_chooses_the_first_pass_for_judged_answers(tmp_path: Path) -> None:
    """tiny.en (the default) gives the workers the packaged quick model; none gives them
    base alone; any other value is refused at load with the file and the key. What the
    workers do with it: tests/speech/test_quick_model.py."""
    from agent.speech.models import quick_model_dir  # noqa: PLC0415

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("agent.runtime.whisper_model_dir", lambda folder: folder)
        on = stt_config(_settings(tmp_path / "on"))
        off = stt_config(_settings(tmp_path / "off", {"CARRIER_SPEECH__STT_QUICK_MODEL": "none"}))
    assert on.quick_model_dir == quick_model_dir()
    assert off.quick_model_dir is None
    with pytest.raises(ConfigError) as err:
        _settings(tmp_path / "bad", {"CARRIER_SPEECH__STT_QUICK_MODEL": "small"})
    assert "speech.stt_quick_model" in str(err.value)


@pytest.mark.models
def test_stt_device_and_compute_type_load_the_model_so(tmp_path: Path) -> None:
    """The effect, not only the wiring: the recogniser the settings build holds its
    weights in the compute type asked for, on the device asked for (int8 is the default)."""
    from agent.speech.whisper import WhisperEngine  # noqa: PLC0415 - loads ctranslate2

    s = _settings(tmp_path, {"CARRIER_SPEECH__STT_DEVICE": "cpu",
                             "CARRIER_SPEECH__STT_COMPUTE_TYPE": "float32"})
    s = dataclasses.replace(s, data_dir=str(tmp_path / "var"))
    loaded = WhisperEngine(stt_config(s)).model.model
    assert (loaded.device, loaded.compute_type) == ("cpu", "float32")
    default = WhisperEngine(stt_config(_settings(tmp_path / "d"))).model.model
    assert default.compute_type.startswith("int8")


async def test_session_expires_reaches_the_user_agent(tmp_path: Path) -> None:
    s = _settings(tmp_path, {"CARRIER_SIP__SESSION_EXPIRES_S": "600",
                             "CARRIER_SIP__UDP_PORT": "0", "CARRIER_SIP__TCP_PORT": "0",
                             "CARRIER_SIP__TLS_PORT": "null"})
    async with SipEndpoint(endpoint_config(s)) as ep:
        assert ep.ua is not None
        assert ep.ua.session_expires == 600  # what its INVITEs and 2xx ask for


async def test_stir_settings_reach_the_signer_and_verifier(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    first = dataclasses.replace(s, data_dir=str(tmp_path / "var"))
    off = dataclasses.replace(first, stir=dataclasses.replace(first.stir, enabled=False))
    assert await build_stir(off) is None  # stir.enabled: false signs and verifies nothing
    made = await build_stir(first)  # the development CA: its files are made once
    assert made is not None
    await made.close()
    files = devca.DevFiles.at(first.path(None, "stir"))
    ca, key = files.ca_cert, files.sp_key
    st = dataclasses.replace(
        first.stir, key_file=str(key), x5u="https://127.0.0.1:9443/sp.pem",
        x5u_allowed_ports=(9443,), trust_anchors=(str(ca),), freshness_s=33, max_skew_s=7,
        customer_numbers=("+15550100155",), rcd_names={"+15550100155": "Other Clinic"})
    built = await build_stir(dataclasses.replace(first, stir=st))
    assert built is not None
    try:
        ctx = built.context
        assert built.repository is None  # key_file + x5u: no development repository
        assert ctx.verifier is not None  # trust_anchors
        assert ctx.fetcher is not None
        assert (ctx.verifier.freshness, ctx.verifier.skew) == (33, 7)
        assert ctx.fetcher.allowed_ports == frozenset({9443})
        assert ctx.customer_numbers == frozenset({"+15550100155"})
        assert ctx.rcd_names == {"+15550100155": "Other Clinic"}
        assert ctx.signer.x5u == "https://127.0.0.1:9443/sp.pem"
    finally:
        await built.close()
    with pytest.raises(SigningError, match="port"):  # x5u_allowed_ports refuses other ports
        await build_stir(dataclasses.replace(first, stir=dataclasses.replace(
            st, x5u="https://127.0.0.1:8443/sp.pem")))


def test_residency_regions_decide_what_loads(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    shutil.copytree(REPO / "config", cfg)
    (cfg / "trunks.yaml").write_text(
        "trunks:\n  - {name: demo, host: sip.example.eu, region: eu-west,"
        " numbers: [\"+15550100100\"]}\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        load_settings(cfg, env={})  # the default regions refuse it
    wide = {"CARRIER_RESIDENCY__ALLOWED_REGIONS": json.dumps(["eu-*", "local"])}
    assert load_settings(cfg, env=wide).trunk("demo").region == "eu-west"
    (cfg / "trunks.yaml").write_text(
        "trunks:\n  - {name: demo, host: sip.example.com, region: us-east,"
        " numbers: [\"+15550100100\"]}\n", encoding="utf-8")
    narrow = {"CARRIER_RESIDENCY__ALLOWED_REGIONS": json.dumps(["us-west-*", "local"])}
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, env=narrow)
    assert err.value.key == "trunks[0].region"
    # stir.certificate_repository_region is held to the same regions once a repository
    # URL is used (`carrier config check` warns on a near-typo of an allowed one).
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, env={"CARRIER_STIR__X5U": "https://cr.example.com/sp.pem",
                                "CARRIER_STIR__CERTIFICATE_REPOSITORY_REGION": "ap-south"})
    assert err.value.key == "stir.certificate_repository_region"


@pytest.mark.postgres
async def test_the_stack_serve_builds_follows_its_settings(db_url: str, tmp_path: Path) -> None:
    """Through ``running_stack`` (what ``carrier serve`` runs, without SIP and speech):
    the pool sizes, the periodic signed checkpoint, the clinic file and the human queue."""
    from carrier.app import running_stack  # noqa: PLC0415 - loads the application

    s = _settings(tmp_path)
    clinic = yaml.safe_load((REPO / "config" / s.clinic_file).read_text(encoding="utf-8"))
    clinic["clinic"]["name"] = "Birch Lane Test Clinic"
    (tmp_path / "config" / "other-clinic.yaml").write_text(yaml.safe_dump(clinic))
    checkpoints = tmp_path / "anchor" / "checkpoints.jsonl"
    s = dataclasses.replace(
        s, data_dir=str(tmp_path / "var"), clinic_file="other-clinic.yaml",
        database=dataclasses.replace(s.database, url=db_url, pool_min=1, pool_max=3),
        keys=dataclasses.replace(s.keys, kek_file=str(tmp_path / "kek.bin"),
                                 kek_env="SETTINGS_MAP_UNSET_KEK",
                                 checkpoints_file=str(checkpoints),
                                 checkpoint_interval_s=0.2),
        agent=dataclasses.replace(s.agent, human_queue="sip:desk-7@127.0.0.1:5080",
                                  seed_demo=False),
        dialer=dataclasses.replace(s.dialer, enabled=False))
    async with running_stack(s, speech=False, sip=False) as stack:
        assert (stack.records.pool.get_min_size(), stack.records.pool.get_max_size()) == (1, 3)
        rt = stack.runtime
        assert rt.clinic.name == "Birch Lane Test Clinic"
        assert rt.human_queue == "sip:desk-7@127.0.0.1:5080"
        assert not await stack.records.pool.fetchval("SELECT count(*) FROM patients")
        names = {c.name for c in stack.health.report()}
        assert "database" in names
        assert "dialer" not in names  # dialer.enabled: false
        # The records' checkpoint task runs every 0.2 s: wait for its first write.
        anchor, wrote = stack.records.anchor, asyncio.Event()
        assert anchor is not None
        write = anchor.checkpoint

        async def noted(*args: Any, **kwargs: Any) -> int:
            n = await write(*args, **kwargs)
            wrote.set()
            return n

        anchor.checkpoint = noted  # type: ignore[method-assign]
        async with asyncio.timeout(30):
            await wrote.wait()
        assert checkpoints.read_text().strip(), "no periodic checkpoint was written"
