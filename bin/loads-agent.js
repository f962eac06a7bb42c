#!/usr/bin/env node
import '../dist/cli/agent-command.js';
