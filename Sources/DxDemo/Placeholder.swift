public enum DxDemoPlaceholder {}
