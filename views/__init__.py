"""Streamlit pages (registered by app.py with st.navigation). The folder is not called pages/ on purpose: Streamlit
1.67 still auto-discovers a pages/ folder for a deep link opened before app.py ran, bypassing the navigation."""
